// AVX2 products for the plain float weight types (F32, F16, BF16), the 8-lane
// counterpart of gemm_float_avx512.cpp. Prompts: tiles of 4 weight rows x 2 tokens
// (8 accumulators; AVX2 has 16 registers), summed lane-wise in float and reduced once
// per tile. Decode: one row at a time, four accumulators. F16 and BF16 weights widen in
// registers; their activations widen once per token, in prepare. Tails shorter than a
// register go through a zero-padded copy (AVX2 has no masked 16-bit loads).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/x86/avx2.hpp"

namespace dsm::kernels::avx2 {
namespace {

constexpr int kRows = 4, kTokens = 2;

// Up to 8 elements of `bytes` each at p, zero past `left`.
template <int bytes, typename Load>
inline __m256 load_tail(const uint8_t* p, int64_t left, Load load) {
    if (left >= 8) return load(p);
    alignas(32) uint8_t tmp[8 * bytes] = {};
    if (left > 0) std::memcpy(tmp, p, size_t(left) * bytes);
    return load(tmp);
}

struct F32Weights {
    static constexpr int w_bytes = 4;
    static __m256 load_w(const uint8_t* p, int64_t left) {
        return load_tail<4>(p, left, [](const uint8_t* q) { return _mm256_loadu_ps(reinterpret_cast<const float*>(q)); });
    }
};
struct F16Weights {
    static constexpr int w_bytes = 2;
    static __m256 load_w(const uint8_t* p, int64_t left) {
        return load_tail<2>(p, left, [](const uint8_t* q) {
            return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
        });
    }
};
struct BF16Weights {
    static constexpr int w_bytes = 2;
    static __m256 load_w(const uint8_t* p, int64_t left) {
        return load_tail<2>(p, left, [](const uint8_t* q) {
            const __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
            return _mm256_castsi256_ps(_mm256_slli_epi32(h, 16));
        });
    }
};

// Activations are floats (F32, or F16 / BF16 widened by prepare).
inline __m256 load_x(const float* p, int64_t left) { return F32Weights::load_w(reinterpret_cast<const uint8_t*>(p), left); }


template <class K>
void gemm_float(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                size_t x_stride, float* out, int64_t out_stride) {
    const auto* wb = static_cast<const uint8_t*>(w);
    const auto* xb = static_cast<const uint8_t*>(x);
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
        const int64_t rows = std::min<int64_t>(kRows, n_rows - r0);
        const uint8_t* wr[kRows];
        for (int i = 0; i < kRows; ++i) wr[i] = wb + size_t(r0 + std::min<int64_t>(i, rows - 1)) * w_stride;
        for (int64_t t0 = 0; t0 < n_tokens; t0 += kTokens) {
            const int64_t tokens = std::min<int64_t>(kTokens, n_tokens - t0);
            const float* x0 = reinterpret_cast<const float*>(xb + size_t(t0) * x_stride);
            const float* x1 = reinterpret_cast<const float*>(xb + size_t(t0 + tokens - 1) * x_stride);
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            for (int64_t c = 0; c < n; c += 8) {
                const int64_t left = n - c;
                const __m256 w0 = K::load_w(wr[0] + size_t(c) * K::w_bytes, left);
                const __m256 w1 = K::load_w(wr[1] + size_t(c) * K::w_bytes, left);
                const __m256 w2 = K::load_w(wr[2] + size_t(c) * K::w_bytes, left);
                const __m256 w3 = K::load_w(wr[3] + size_t(c) * K::w_bytes, left);
                const __m256 xa = load_x(x0 + c, left);
                a0 = _mm256_fmadd_ps(w0, xa, a0);
                a1 = _mm256_fmadd_ps(w1, xa, a1);
                a2 = _mm256_fmadd_ps(w2, xa, a2);
                a3 = _mm256_fmadd_ps(w3, xa, a3);
                const __m256 xb1 = load_x(x1 + c, left);
                b0 = _mm256_fmadd_ps(w0, xb1, b0);
                b1 = _mm256_fmadd_ps(w1, xb1, b1);
                b2 = _mm256_fmadd_ps(w2, xb1, b2);
                b3 = _mm256_fmadd_ps(w3, xb1, b3);
            }
            const __m128i row_mask = _mm_cmpgt_epi32(_mm_set1_epi32(int(rows)), _mm_setr_epi32(0, 1, 2, 3));
            _mm_maskstore_ps(out + t0 * out_stride + r0, row_mask, reduce4(a0, a1, a2, a3));
            if (tokens > 1) _mm_maskstore_ps(out + (t0 + 1) * out_stride + r0, row_mask, reduce4(b0, b1, b2, b3));
        }
    }
}

// Decode: one row at a time so that the weights stream through memory in order.
template <class K>
void gemv_float(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                size_t x_stride, float* out, int64_t out_stride) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        const float* xt = reinterpret_cast<const float*>(static_cast<const uint8_t*>(x) + size_t(t) * x_stride);
        for (int64_t r = 0; r < n_rows; ++r) {
            const uint8_t* wr = static_cast<const uint8_t*>(w) + size_t(r) * w_stride;
            __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            int64_t c = 0;
            for (; c + 32 <= n; c += 32) {
                a0 = _mm256_fmadd_ps(K::load_w(wr + size_t(c) * K::w_bytes, 8), load_x(xt + c, 8), a0);
                a1 = _mm256_fmadd_ps(K::load_w(wr + size_t(c + 8) * K::w_bytes, 8), load_x(xt + c + 8, 8), a1);
                a2 = _mm256_fmadd_ps(K::load_w(wr + size_t(c + 16) * K::w_bytes, 8), load_x(xt + c + 16, 8), a2);
                a3 = _mm256_fmadd_ps(K::load_w(wr + size_t(c + 24) * K::w_bytes, 8), load_x(xt + c + 24, 8), a3);
            }
            for (; c < n; c += 8) a0 = _mm256_fmadd_ps(K::load_w(wr + size_t(c) * K::w_bytes, n - c), load_x(xt + c, n - c), a0);
            out[t * out_stride + r] = hsum(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
        }
    }
}

// F16 / BF16 activation rows -> floats (exact).
template <class K>
void prepare_widen(int64_t n, const void* x, void* prepared) {
    const auto* h = static_cast<const uint8_t*>(x);
    auto* f = static_cast<float*>(prepared);
    for (int64_t i = 0; i < n; i += 8) {
        alignas(32) float tmp[8];
        _mm256_store_ps(tmp, K::load_w(h + 2 * i, n - i));
        std::memcpy(f + i, tmp, size_t(std::min<int64_t>(8, n - i)) * 4);
    }
}

}  // namespace

void set_float_gemm_kernels(KernelTable& t) {
    t.gemm[int(DType::F32)] = GemmKernel{gemm_float<F32Weights>, nullptr, 0, kRows, 2};
    t.gemm[int(DType::F16)] = GemmKernel{gemm_float<F16Weights>, prepare_widen<F16Weights>, 4, kRows, 2};
    t.gemm[int(DType::BF16)] = GemmKernel{gemm_float<BF16Weights>, prepare_widen<BF16Weights>, 4, kRows, 2};
    t.gemv[int(DType::F32)] = GemmKernel{gemv_float<F32Weights>, nullptr, 0, 1, 1};
    t.gemv[int(DType::F16)] = GemmKernel{gemv_float<F16Weights>, prepare_widen<F16Weights>, 4, 1, 1};
    t.gemv[int(DType::BF16)] = GemmKernel{gemv_float<BF16Weights>, prepare_widen<BF16Weights>, 4, 1, 1};
}

}  // namespace dsm::kernels::avx2
