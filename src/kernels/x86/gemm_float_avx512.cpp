// AVX-512 products for the plain float weight types (F32, F16, BF16). Prompts: tiles of
// 4 weight rows x 6 tokens, 24 accumulators summed lane-wise in float (as llama.cpp
// does; the single-row vec_dot sums in double) and reduced once per tile, so each
// loaded weight chunk serves 6 tokens and each token chunk 4 rows.
//   F32:  plain FMA.
//   F16:  the weights widen in registers; the F16 activations widen once, in prepare.
//   BF16: vdpbf16ps on the raw pairs of weights and BF16 activations (exact products,
//         one rounding per pair: the float summation the contract allows).
// Rows and tokens past the end of a partial tile repeat the last valid one and are
// computed but not stored, so one tile shape serves every size.
#include <algorithm>
#include <cstdint>

#include "kernels/x86/avx512.hpp"

namespace dsm::kernels::avx512 {
namespace {

constexpr int kRows = 4, kTokens = 6;

struct F32Weights {
    static constexpr int step = 16, w_bytes = 4, x_bytes = 4;
    using Mask = __mmask16;
    static Mask mask(int64_t left) { return left >= 16 ? Mask(0xffff) : left <= 0 ? Mask(0) : Mask((1u << left) - 1); }
    static __m512 load_w(const uint8_t* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
    static __m512 load_x(const uint8_t* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
    static __m512 madd(__m512 acc, __m512 w, __m512 x) { return _mm512_fmadd_ps(w, x, acc); }
};

struct F16Weights : F32Weights {
    static constexpr int w_bytes = 2;
    static __m512 load_w(const uint8_t* p, Mask m) { return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p)); }
};

struct BF16Weights {
    static constexpr int step = 32, w_bytes = 2, x_bytes = 2;
    using Mask = __mmask32;
    static Mask mask(int64_t left) {
        return left >= 32 ? Mask(0xffffffffu) : left <= 0 ? Mask(0) : Mask((uint32_t(1) << left) - 1);
    }
    static __m512i load_w(const uint8_t* p, Mask m) { return _mm512_maskz_loadu_epi16(m, p); }
    static __m512i load_x(const uint8_t* p, Mask m) { return _mm512_maskz_loadu_epi16(m, p); }
    static __m512 madd(__m512 acc, __m512i w, __m512i x) {
        return _mm512_dpbf16_ps(acc, reinterpret_cast<__m512bh>(w), reinterpret_cast<__m512bh>(x));
    }
};

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
            const uint8_t* xr[kTokens];
            for (int t = 0; t < kTokens; ++t) xr[t] = xb + size_t(t0 + std::min<int64_t>(t, tokens - 1)) * x_stride;
            // Named accumulators, one group of 4 rows per token: GCC keeps a 2-D array of
            // vectors in memory and stores it every iteration.
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
            __m512 c0 = a0, c1 = a0, c2 = a0, c3 = a0, d0 = a0, d1 = a0, d2 = a0, d3 = a0;
            __m512 e0 = a0, e1 = a0, e2 = a0, e3 = a0, f0 = a0, f1 = a0, f2 = a0, f3 = a0;
            for (int64_t c = 0; c < n; c += K::step) {
                const typename K::Mask m = K::mask(n - c);
                const auto w0 = K::load_w(wr[0] + size_t(c) * K::w_bytes, m);
                const auto w1 = K::load_w(wr[1] + size_t(c) * K::w_bytes, m);
                const auto w2 = K::load_w(wr[2] + size_t(c) * K::w_bytes, m);
                const auto w3 = K::load_w(wr[3] + size_t(c) * K::w_bytes, m);
                auto token = [&](int t, __m512& x0, __m512& x1, __m512& x2, __m512& x3) {
                    const auto xv = K::load_x(xr[t] + size_t(c) * K::x_bytes, m);
                    x0 = K::madd(x0, w0, xv);
                    x1 = K::madd(x1, w1, xv);
                    x2 = K::madd(x2, w2, xv);
                    x3 = K::madd(x3, w3, xv);
                };
                token(0, a0, a1, a2, a3);
                token(1, b0, b1, b2, b3);
                token(2, c0, c1, c2, c3);
                token(3, d0, d1, d2, d3);
                token(4, e0, e1, e2, e3);
                token(5, f0, f1, f2, f3);
            }
            const __m128 sums[kTokens] = {reduce4(a0, a1, a2, a3), reduce4(b0, b1, b2, b3), reduce4(c0, c1, c2, c3),
                                          reduce4(d0, d1, d2, d3), reduce4(e0, e1, e2, e3), reduce4(f0, f1, f2, f3)};
            const __mmask8 row_mask = __mmask8((1u << rows) - 1);
            for (int t = 0; t < tokens; ++t) _mm_mask_storeu_ps(out + (t0 + t) * out_stride + r0, row_mask, sums[t]);
        }
    }
}

// Decode (one token): one row at a time, so that the weights stream through memory in
// order (interleaving rows splits them into short streams the prefetcher follows
// badly: half the bandwidth), four chunks per step in separate accumulators to cover
// the FMA latency.
template <class K>
void gemv_float(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                size_t x_stride, float* out, int64_t out_stride) {
    for (int64_t t = 0; t < n_tokens; ++t) {
        const uint8_t* xt = static_cast<const uint8_t*>(x) + size_t(t) * x_stride;
        for (int64_t r = 0; r < n_rows; ++r) {
            const uint8_t* wr = static_cast<const uint8_t*>(w) + size_t(r) * w_stride;
            __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
            auto chunk = [&](int64_t c, __m512& acc) {
                const typename K::Mask m = K::mask(n - c);
                acc = K::madd(acc, K::load_w(wr + size_t(c) * K::w_bytes, m), K::load_x(xt + size_t(c) * K::x_bytes, m));
            };
            for (int64_t c = 0; c < n; c += 4 * K::step) {
                chunk(c, a0);
                chunk(c + K::step, a1);
                chunk(c + 2 * K::step, a2);
                chunk(c + 3 * K::step, a3);
            }
            out[t * out_stride + r] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
        }
    }
}

// F16 activation row -> floats (exact).
void prepare_f16(int64_t n, const void* x, void* prepared) {
    const auto* h = static_cast<const uint16_t*>(x);
    auto* f = static_cast<float*>(prepared);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = F32Weights::mask(n - i);
        _mm512_mask_storeu_ps(f + i, m, _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, h + i)));
    }
}

}  // namespace

void set_float_gemm_kernels(KernelTable& t) {
    t.gemm[int(DType::F32)] = GemmKernel{gemm_float<F32Weights>, nullptr, 0, kRows, 2};
    t.gemm[int(DType::F16)] = GemmKernel{gemm_float<F16Weights>, prepare_f16, 4, kRows, 2};
    t.gemm[int(DType::BF16)] = GemmKernel{gemm_float<BF16Weights>, nullptr, 0, kRows, 2};
    t.gemv[int(DType::F32)] = GemmKernel{gemv_float<F32Weights>, nullptr, 0, 1, 1};
    t.gemv[int(DType::F16)] = GemmKernel{gemv_float<F16Weights>, prepare_f16, 4, 1, 1};
    t.gemv[int(DType::BF16)] = GemmKernel{gemv_float<BF16Weights>, nullptr, 0, 1, 1};
}

}  // namespace dsm::kernels::avx512
