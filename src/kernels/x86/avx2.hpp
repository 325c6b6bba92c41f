// Internal: pieces of avx2_table() that live in separate files, and small helpers they
// share. Only files compiled with the AVX2 flags (*_avx2.cpp) include this.
#pragma once
#include <immintrin.h>

#include "kernels/kernels.hpp"

namespace dsm::kernels::avx2 {

// Fills the gemm entries of the AVX2 table and its layouts packed at load (gemm_avx2.cpp).
void set_gemm_kernels(KernelTable& t);
// Fills the gemm and gemv entries of F32, F16 and BF16 weights (gemm_float_avx2.cpp).
void set_float_gemm_kernels(KernelTable& t);
// Fills the attention and layer entries (attention_avx2.cpp).
void set_layer_kernels(KernelTable& t);

inline __m128i load16(const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); }

inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
inline double hsum(__m256d v) {
    const __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}
// The sums of the 8 lanes of a, b, c and d, in one register.
inline __m128 reduce4(__m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 abcd = _mm256_hadd_ps(_mm256_hadd_ps(a, b), _mm256_hadd_ps(c, d));
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}
inline int hsum(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

}  // namespace dsm::kernels::avx2
