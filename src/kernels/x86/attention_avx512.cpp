// AVX-512 attention over the KV cache (float or fp16 rows) and the element-wise
// layer functions (SwiGLU, softmax) with a vector exp.
//
// Scores: tiles of up to 6 query heads x 4 cache rows share every loaded query chunk
// and converted key chunk (24 accumulators). Values: up to 6 heads x 64 output values
// per pass, each cache row converted once per pass for all of them. A KV head's group
// of query heads (6 for the 1.5B, 7 for the 7B distill) is split into at most two.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "kernels/attention_mqa.hpp"
#include "kernels/x86/avx512.hpp"

namespace dsm::kernels::avx512 {
namespace {

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); }

// 16 values of a cache row from element i (masked), as floats.
template <bool F16>
inline __m512 load_row(const void* row, int64_t i, __mmask16 m) {
    if constexpr (F16)
        return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(row) + i));
    else
        return _mm512_maskz_loadu_ps(m, static_cast<const float*>(row) + i);
}

inline const void* row_at(const void* base, size_t stride, int64_t j) {
    return static_cast<const uint8_t*>(base) + size_t(j) * stride;
}

// HQ heads x JK cache rows: every loaded query chunk and converted key chunk is shared
// (HQ x JK accumulators; 6 x 4 of them, 4 keys and a query fit the 32 registers).
template <bool F16, int HQ, int JK>
void scores_tile(int64_t n, const float* q, int64_t q_stride, const void* k, size_t row_stride, float* s,
                 int64_t s_stride) {
    static_assert(HQ <= 6 && (JK == 1 || JK == 4));
    __m512 acc[HQ][JK];
#pragma GCC unroll 6
    for (int h = 0; h < HQ; ++h)
#pragma GCC unroll 4
        for (int r = 0; r < JK; ++r) acc[h][r] = _mm512_setzero_ps();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        __m512 kv[JK];
#pragma GCC unroll 4
        for (int r = 0; r < JK; ++r) kv[r] = load_row<F16>(row_at(k, row_stride, r), i, m);
#pragma GCC unroll 6
        for (int h = 0; h < HQ; ++h) {
            const __m512 qv = _mm512_maskz_loadu_ps(m, q + h * q_stride + i);
#pragma GCC unroll 4
            for (int r = 0; r < JK; ++r) acc[h][r] = _mm512_fmadd_ps(qv, kv[r], acc[h][r]);
        }
    }
#pragma GCC unroll 6
    for (int h = 0; h < HQ; ++h) {
        if constexpr (JK == 4)
            _mm_storeu_ps(s + h * s_stride, reduce4(acc[h][0], acc[h][1], acc[h][2], acc[h][3]));
        else
            s[h * s_stride] = _mm512_reduce_add_ps(acc[h][0]);
    }
}

template <bool F16, int HQ>
void scores_heads(int64_t n, const float* q, int64_t q_stride, int64_t n_kv, const void* k, size_t row_stride,
                  float* s, int64_t s_stride) {
    int64_t j = 0;
    for (; j + 4 <= n_kv; j += 4)
        scores_tile<F16, HQ, 4>(n, q, q_stride, row_at(k, row_stride, j), row_stride, s + j, s_stride);
    for (; j < n_kv; ++j) scores_tile<F16, HQ, 1>(n, q, q_stride, row_at(k, row_stride, j), row_stride, s + j, s_stride);
}

// Heads in groups of at most 6 that share each pass over the cache rows, balanced (7 = 4
// + 3, not 6 + 1).
inline int64_t head_step(int64_t left) { return left <= 6 ? left : (left + (left + 5) / 6 - 1) / ((left + 5) / 6); }

template <bool F16>
void attn_scores(int64_t n, int64_t nq, const float* q, int64_t q_stride, int64_t n_kv, const void* k,
                 size_t row_stride, float* s, int64_t s_stride) {
    for (int64_t h = 0, step; h < nq; h += step) {
        step = head_step(nq - h);
        const float* qh = q + h * q_stride;
        float* sh = s + h * s_stride;
        switch (step) {
        case 6: scores_heads<F16, 6>(n, qh, q_stride, n_kv, k, row_stride, sh, s_stride); break;
        case 5: scores_heads<F16, 5>(n, qh, q_stride, n_kv, k, row_stride, sh, s_stride); break;
        case 4: scores_heads<F16, 4>(n, qh, q_stride, n_kv, k, row_stride, sh, s_stride); break;
        case 3: scores_heads<F16, 3>(n, qh, q_stride, n_kv, k, row_stride, sh, s_stride); break;
        case 2: scores_heads<F16, 2>(n, qh, q_stride, n_kv, k, row_stride, sh, s_stride); break;
        default: scores_heads<F16, 1>(n, qh, q_stride, n_kv, k, row_stride, sh, s_stride); break;
        }
    }
}

// Up to 64 outputs (i0 .. i0 + 63) of HQ heads. (The unroll pragmas let GCC keep
// the accumulator array in registers.)
template <bool F16, int HQ>
void values_pass(int64_t n, int64_t i0, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                 size_t row_stride, float* o, int64_t o_stride) {
    __m512 acc[HQ][4];
    __mmask16 m[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) m[c] = i0 + 16 * c < n ? tail_mask(n - i0 - 16 * c) : __mmask16(0);
#pragma GCC unroll 6
    for (int h = 0; h < HQ; ++h)
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) acc[h][c] = _mm512_setzero_ps();
    for (int64_t j = 0; j < n_kv; ++j) {
        const void* row = row_at(v, row_stride, j);
        __m512 vv[4];
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) vv[c] = load_row<F16>(row, i0 + 16 * c, m[c]);
#pragma GCC unroll 6
        for (int h = 0; h < HQ; ++h) {
            const __m512 ph = _mm512_set1_ps(p[h * p_stride + j]);
#pragma GCC unroll 4
            for (int c = 0; c < 4; ++c) acc[h][c] = _mm512_fmadd_ps(ph, vv[c], acc[h][c]);
        }
    }
#pragma GCC unroll 6
    for (int h = 0; h < HQ; ++h)
#pragma GCC unroll 4
        for (int c = 0; c < 4; ++c) _mm512_mask_storeu_ps(o + h * o_stride + i0 + 16 * c, m[c], acc[h][c]);
}

template <bool F16>
void attn_values(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                 size_t row_stride, float* o, int64_t o_stride) {
    for (int64_t h = 0, step; h < nq; h += step) {
        step = head_step(nq - h);
        const float* ph = p + h * p_stride;
        float* oh = o + h * o_stride;
        for (int64_t i0 = 0; i0 < n; i0 += 64) {
            switch (step) {
            case 6: values_pass<F16, 6>(n, i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            case 5: values_pass<F16, 5>(n, i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            case 4: values_pass<F16, 4>(n, i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            case 3: values_pass<F16, 3>(n, i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            case 2: values_pass<F16, 2>(n, i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            default: values_pass<F16, 1>(n, i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            }
        }
    }
}

// exp(x) to about 1 ulp: x = k ln2 + r with |r| <= ln2 / 2, a degree-7 Taylor
// polynomial for e^r (truncation error below 2^-27), then scaled by 2^k.
constexpr float kLogFloatMin = -87.336544f;  // log(FLT_MIN)
inline __m512 exp16(__m512 x) {
    const __m512 xc = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-110.0f));
    const __m512 k = _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(k, _mm512_set1_ps(0.693145751953125f), xc);  // ln2 split: exact k * hi
    r = _mm512_fnmadd_ps(k, _mm512_set1_ps(1.428606765330187045e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 5040);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    // Results below the smallest normal float are zero: they cannot move a softmax or a
    // SiLU, and denormal operands cost the multiplies that use them microcode assists
    // (the values pass after a long context's softmax ran 8x slower).
    const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kLogFloatMin), _CMP_LT_OQ);
    const __m512 y = _mm512_maskz_mov_ps(__mmask16(~tiny), _mm512_scalef_ps(p, k));
    return _mm512_mask_mov_ps(y, _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q), x);  // NaN stays NaN
}

// Multi-query attention over shared rows (MLA), 16 heads to a register: lane h of
// every vector belongs to head h. The queries are stored transposed (qT[c] = the 16
// heads' c-th values), so a score row is 16 heads x 1 cache row and each cache value
// is broadcast once for all heads; the values pass likewise broadcasts the row values
// against the 16 heads' probabilities. Rows are taken in blocks of kMqaBlock
// (converted to float once for both passes) under an online softmax: the running
// maximum rescales the accumulated output when a block raises it.
constexpr int64_t kMqaBlock = 16;

// Scores of R rows (float, `stride` floats apart) for the 16 heads: out[r] = sum_c row_r[c] qT[c].
template <int R>
inline void mqa_scores(int64_t n_k, const float* qT, const float* row, int64_t stride, __m512* out) {
    __m512 acc[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) acc[r] = _mm512_setzero_ps();
    for (int64_t c = 0; c < n_k; ++c) {
        const __m512 qv = _mm512_loadu_ps(qT + c * 16);
#pragma GCC unroll 8
        for (int r = 0; r < R; ++r) acc[r] = _mm512_fmadd_ps(_mm512_set1_ps(row[r * stride + c]), qv, acc[r]);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) out[r] = acc[r];
}

// o[i] += sum_j row_j[i0 + i] p[j] for NI (<= 16) output values of the 16 heads.
template <int NI>
inline void mqa_values(int64_t nb, const float* p, const float* row, int64_t stride, float* o) {
    __m512 acc[NI];
#pragma GCC unroll 16
    for (int i = 0; i < NI; ++i) acc[i] = _mm512_loadu_ps(o + i * 16);
    for (int64_t j = 0; j < nb; ++j) {
        const __m512 pj = _mm512_loadu_ps(p + j * 16);
        const float* rj = row + j * stride;
#pragma GCC unroll 16
        for (int i = 0; i < NI; ++i) acc[i] = _mm512_fmadd_ps(_mm512_set1_ps(rj[i]), pj, acc[i]);
    }
#pragma GCC unroll 16
    for (int i = 0; i < NI; ++i) _mm512_storeu_ps(o + i * 16, acc[i]);
}

template <bool F16>
void attn_mqa(int64_t n_k, int64_t n_v, int64_t nq, const float* q, int64_t q_stride, float scale, int64_t n_kv,
              const void* rows, size_t row_stride, float* o, int64_t o_stride, float* lse) {
    const int64_t kp = (n_k + 15) / 16 * 16;  // converted row stride (floats)
    thread_local std::vector<float> scratch;
    scratch.resize(size_t(n_k * 16 + n_v * 16 + kMqaBlock * 16 + (F16 ? kMqaBlock * kp : 0)));
    float *qT = scratch.data(), *O = qT + n_k * 16, *P = O + n_v * 16, *buf = P + kMqaBlock * 16;
    for (int64_t g0 = 0; g0 < nq; g0 += 16) {
        const int64_t ng = std::min<int64_t>(16, nq - g0);
        mqa_transpose_queries(q + g0 * q_stride, q_stride, scale, n_k, ng, qT);
        std::fill(O, O + n_v * 16, 0.0f);
        __m512 M = _mm512_set1_ps(-INFINITY);
        __m512d L0 = _mm512_setzero_pd(), L1 = L0;  // the normaliser, summed in double as softmax does
        for (int64_t j0 = 0; j0 < n_kv; j0 += kMqaBlock) {
            const int64_t nb = std::min(kMqaBlock, n_kv - j0);
            const float* base;
            int64_t stride;
            if constexpr (F16) {
                for (int64_t j = 0; j < nb; ++j) {
                    const void* src = row_at(rows, row_stride, j0 + j);
                    for (int64_t i = 0; i < n_k; i += 16) {
                        const __mmask16 m = tail_mask(n_k - i);
                        _mm512_mask_storeu_ps(buf + j * kp + i, m, load_row<true>(src, i, m));
                    }
                }
                base = buf, stride = kp;
            } else {
                base = static_cast<const float*>(row_at(rows, row_stride, j0)), stride = int64_t(row_stride / 4);
            }
            __m512 S[kMqaBlock];
            int64_t j = 0;
            for (; j + 8 <= nb; j += 8) mqa_scores<8>(n_k, qT, base + j * stride, stride, S + j);
            for (; j < nb; ++j) mqa_scores<1>(n_k, qT, base + j * stride, stride, S + j);
            __m512 Mn = M;
            for (j = 0; j < nb; ++j) Mn = _mm512_max_ps(Mn, S[j]);
            if (_mm512_cmp_ps_mask(Mn, M, _CMP_NEQ_OQ) & 0xffff) {
                // A new maximum: earlier terms shrink by exp(M - Mn) (0 for the first block).
                const __m512 alpha = exp16(_mm512_sub_ps(M, Mn));
                L0 = _mm512_mul_pd(L0, _mm512_cvtps_pd(_mm512_castps512_ps256(alpha)));
                L1 = _mm512_mul_pd(L1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(alpha, 1)));
                for (int64_t i = 0; i < n_v; ++i) _mm512_storeu_ps(O + i * 16, _mm512_mul_ps(_mm512_loadu_ps(O + i * 16), alpha));
                M = Mn;
            }
            for (j = 0; j < nb; ++j) {
                const __m512 pj = exp16(_mm512_sub_ps(S[j], M));
                _mm512_storeu_ps(P + j * 16, pj);
                L0 = _mm512_add_pd(L0, _mm512_cvtps_pd(_mm512_castps512_ps256(pj)));
                L1 = _mm512_add_pd(L1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(pj, 1)));
            }
            int64_t i = 0;
            for (; i + 16 <= n_v; i += 16) mqa_values<16>(nb, P, base + i, stride, O + i * 16);
            for (; i < n_v; ++i) mqa_values<1>(nb, P, base + i, stride, O + i * 16);
        }
        alignas(64) float m[16];
        alignas(64) double l[16];
        _mm512_store_ps(m, M);
        _mm512_store_pd(l, L0);
        _mm512_store_pd(l + 8, L1);
        mqa_finish(O, n_v, m, l, ng, o + g0 * o_stride, o_stride, lse + g0);
    }
}

void swiglu(float* gate, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), g));
        const __m512 silu = _mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
        _mm512_mask_storeu_ps(gate + i, m, _mm512_mul_ps(silu, _mm512_maskz_loadu_ps(m, up + i)));
    }
}

float softmax(float* x, int64_t n, float scale) {
    __m512 mx = _mm512_set1_ps(-INFINITY);
    const __m512 sc = _mm512_set1_ps(scale);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), sc);
        _mm512_mask_storeu_ps(x + i, m, v);
        mx = _mm512_mask_max_ps(mx, m, mx, v);
    }
    const __m512 vmax = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512d sum0 = _mm512_setzero_pd(), sum1 = _mm512_setzero_pd();  // summed in double, as the reference
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vmax)));
        _mm512_mask_storeu_ps(x + i, m, e);
        sum0 = _mm512_add_pd(sum0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        sum1 = _mm512_add_pd(sum1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(e, 1)));
    }
    const double sum = _mm512_reduce_add_pd(_mm512_add_pd(sum0, sum1));
    const __m512 inv = _mm512_set1_ps(float(1.0 / sum)), smallest = _mm512_set1_ps(FLT_MIN);
    for (int64_t i = 0; i < n; i += 16) {  // normalised, and again no denormals
        const __mmask16 m = tail_mask(n - i);
        const __m512 y = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), inv);
        _mm512_mask_storeu_ps(x + i, m, _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(y, smallest, _CMP_GE_OQ), y));
    }
    return _mm512_cvtss_f32(vmax) + float(std::log(sum));
}

}  // namespace

void set_layer_kernels(KernelTable& t) {
    t.attn_scores[0] = attn_scores<false>;
    t.attn_scores[1] = attn_scores<true>;
    t.attn_values[0] = attn_values<false>;
    t.attn_values[1] = attn_values<true>;
    t.attn_mqa[0] = attn_mqa<false>;
    t.attn_mqa[1] = attn_mqa<true>;
    t.swiglu = swiglu;
    t.softmax = softmax;
}

}  // namespace dsm::kernels::avx512
