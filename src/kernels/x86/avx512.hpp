// Internal: pieces of avx512_table() that live in separate files. Only files
// compiled with the AVX-512 flags (*_avx512.cpp) include this.
#pragma once
// GCC 12 warns about the _mm512_undefined_*() inside its own intrinsics (GCC bug 105593);
// the pragmas cover every file that includes this header.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include "kernels/kernels.hpp"

namespace dsm::kernels::avx512 {

// Fills the gemm entries of the AVX-512 table (gemm_avx512.cpp).
void set_gemm_kernels(KernelTable& t);
// Fills the packed entries: layouts packed at load and their kernels (gemm_packed_avx512.cpp).
void set_packed_kernels(KernelTable& t);
// Fills the gemm entries of F32, F16 and BF16 weights (gemm_float_avx512.cpp).
void set_float_gemm_kernels(KernelTable& t);
// Fills the gemv entries (gemv_avx512.cpp).
void set_gemv_kernels(KernelTable& t);
// Fills the attention and layer entries (attention_avx512.cpp).
void set_layer_kernels(KernelTable& t);

// The sums of the 16 lanes of a, b, c and d, in one register.
inline __m128 reduce4(__m512 a, __m512 b, __m512 c, __m512 d) {
    auto fold = [](__m512 v) { return _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1)); };
    const __m256 ab = _mm256_hadd_ps(fold(a), fold(b)), cd = _mm256_hadd_ps(fold(c), fold(d));
    const __m256 abcd = _mm256_hadd_ps(ab, cd);  // per 128-bit half: [a, b, c, d] partial sums
    return _mm_add_ps(_mm256_castps256_ps128(abcd), _mm256_extractf128_ps(abcd, 1));
}

}  // namespace dsm::kernels::avx512
