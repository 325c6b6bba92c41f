// AVX2 attention over the KV cache (float or fp16 rows), MLA's fused multi-query form,
// and the element-wise layer functions (SwiGLU, softmax) with a vector exp.
#include <immintrin.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "core/fp16.hpp"
#include "kernels/attention_mqa.hpp"
#include "kernels/x86/avx2.hpp"

namespace dsm::kernels::avx2 {
namespace {

template <bool F16>
inline __m256 load_row(const void* row, int64_t i) {
    if constexpr (F16)
        return _mm256_cvtph_ps(load16(static_cast<const uint16_t*>(row) + i));
    else
        return _mm256_loadu_ps(static_cast<const float*>(row) + i);
}
template <bool F16>
inline float load_one(const void* row, int64_t i) {
    if constexpr (F16)
        return fp16_to_f32(static_cast<const uint16_t*>(row)[i]);
    else
        return static_cast<const float*>(row)[i];
}
inline const void* row_at(const void* base, size_t stride, int64_t j) {
    return static_cast<const uint8_t*>(base) + size_t(j) * stride;
}

// Scores: tiles of 2 query heads x 4 cache rows share every loaded query chunk and
// converted key chunk (8 accumulators), reduced four at a time.
template <bool F16, int HQ, int JK>
void scores_tile(int64_t n, const float* q, int64_t q_stride, const void* k, size_t row_stride, float* s,
                 int64_t s_stride) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 k0 = load_row<F16>(k, i);
        const __m256 k1 = JK == 4 ? load_row<F16>(row_at(k, row_stride, 1), i) : k0;
        const __m256 k2 = JK == 4 ? load_row<F16>(row_at(k, row_stride, 2), i) : k0;
        const __m256 k3 = JK == 4 ? load_row<F16>(row_at(k, row_stride, 3), i) : k0;
        auto head = [&](const float* qh, __m256& x0, __m256& x1, __m256& x2, __m256& x3) {
            const __m256 qv = _mm256_loadu_ps(qh + i);
            x0 = _mm256_fmadd_ps(qv, k0, x0);
            if constexpr (JK == 4) {
                x1 = _mm256_fmadd_ps(qv, k1, x1);
                x2 = _mm256_fmadd_ps(qv, k2, x2);
                x3 = _mm256_fmadd_ps(qv, k3, x3);
            }
        };
        head(q, a0, a1, a2, a3);
        if constexpr (HQ > 1) head(q + q_stride, b0, b1, b2, b3);
    }
    auto out = [&](const float* qh, float* sh, __m256 x0, __m256 x1, __m256 x2, __m256 x3) {
        alignas(16) float sums[4];
        if constexpr (JK == 4)
            _mm_store_ps(sums, reduce4(x0, x1, x2, x3));
        else
            sums[0] = hsum(x0);
        for (int j = 0; j < JK; ++j) {
            for (int64_t t = i; t < n; ++t) sums[j] += qh[t] * load_one<F16>(row_at(k, row_stride, j), t);
            sh[j] = sums[j];
        }
    };
    out(q, s, a0, a1, a2, a3);
    if constexpr (HQ > 1) out(q + q_stride, s + s_stride, b0, b1, b2, b3);
}

template <bool F16, int HQ>
void scores_heads(int64_t n, const float* q, int64_t q_stride, int64_t n_kv, const void* k, size_t row_stride,
                  float* s, int64_t s_stride) {
    int64_t j = 0;
    for (; j + 4 <= n_kv; j += 4)
        scores_tile<F16, HQ, 4>(n, q, q_stride, row_at(k, row_stride, j), row_stride, s + j, s_stride);
    for (; j < n_kv; ++j) scores_tile<F16, HQ, 1>(n, q, q_stride, row_at(k, row_stride, j), row_stride, s + j, s_stride);
}

template <bool F16>
void attn_scores(int64_t n, int64_t nq, const float* q, int64_t q_stride, int64_t n_kv, const void* k,
                 size_t row_stride, float* s, int64_t s_stride) {
    for (int64_t h = 0; h < nq; h += 2) {
        if (h + 1 < nq)
            scores_heads<F16, 2>(n, q + h * q_stride, q_stride, n_kv, k, row_stride, s + h * s_stride, s_stride);
        else
            scores_heads<F16, 1>(n, q + h * q_stride, q_stride, n_kv, k, row_stride, s + h * s_stride, s_stride);
    }
}

// Values: HQ heads x NC chunks of 8 outputs from i0 per pass, each cache row chunk
// converted once per pass for all the heads; fewer heads take wider passes so that the
// cache is walked as few times as possible (HQ x NC accumulators, at most 12).
template <bool F16, int HQ, int NC>
void values_pass(int64_t i0, const float* p, int64_t p_stride, int64_t n_kv, const void* v, size_t row_stride,
                 float* o, int64_t o_stride) {
    __m256 acc[HQ][NC];
#pragma GCC unroll 4
    for (int h = 0; h < HQ; ++h)
#pragma GCC unroll 8
        for (int c = 0; c < NC; ++c) acc[h][c] = _mm256_setzero_ps();
    for (int64_t j = 0; j < n_kv; ++j) {
        const void* row = row_at(v, row_stride, j);
        __m256 ph[HQ];
#pragma GCC unroll 4
        for (int h = 0; h < HQ; ++h) ph[h] = _mm256_set1_ps(p[h * p_stride + j]);
#pragma GCC unroll 8
        for (int c = 0; c < NC; ++c) {
            const __m256 vc = load_row<F16>(row, i0 + 8 * c);
#pragma GCC unroll 4
            for (int h = 0; h < HQ; ++h) acc[h][c] = _mm256_fmadd_ps(ph[h], vc, acc[h][c]);
        }
    }
#pragma GCC unroll 4
    for (int h = 0; h < HQ; ++h)
#pragma GCC unroll 8
        for (int c = 0; c < NC; ++c) _mm256_storeu_ps(o + h * o_stride + i0 + 8 * c, acc[h][c]);
}

// Outputs [i0, n) of HQ heads: wide passes, then 8 at a time; returns where they stopped.
template <bool F16, int HQ, int NC>
int64_t values_passes(int64_t n, int64_t i0, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                      size_t row_stride, float* o, int64_t o_stride) {
    for (; i0 + 8 * NC <= n; i0 += 8 * NC) values_pass<F16, HQ, NC>(i0, p, p_stride, n_kv, v, row_stride, o, o_stride);
    for (; i0 + 8 <= n; i0 += 8) values_pass<F16, HQ, 1>(i0, p, p_stride, n_kv, v, row_stride, o, o_stride);
    return i0;
}

template <bool F16>
void attn_values(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                 size_t row_stride, float* o, int64_t o_stride) {
    for (int64_t h = 0; h < nq; h += 4) {
        const int hq = int(std::min<int64_t>(4, nq - h));
        const float* ph = p + h * p_stride;
        float* oh = o + h * o_stride;
        int64_t full = 0;
        switch (hq) {
        case 4: full = values_passes<F16, 4, 2>(n, 0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
        case 3: full = values_passes<F16, 3, 4>(n, 0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
        case 2: full = values_passes<F16, 2, 4>(n, 0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
        default: full = values_passes<F16, 1, 8>(n, 0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
        }
        for (int hh = 0; hh < hq; ++hh) {  // the last n % 8 outputs
            float* out = oh + hh * o_stride;
            std::fill(out + full, out + n, 0.0f);
            for (int64_t j = 0; j < n_kv; ++j)
                for (int64_t i = full; i < n; ++i) out[i] += ph[hh * p_stride + j] * load_one<F16>(row_at(v, row_stride, j), i);
        }
    }
}

// exp(x) to about 1 ulp: x = k ln2 + r, |r| <= ln2 / 2, degree-7 Taylor polynomial,
// times 2^k built in two steps so that k down to -150 still scales correctly.
inline __m256 exp8(__m256 x) {
    const __m256 xc = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(89.0f)), _mm256_set1_ps(-110.0f));
    const __m256 k = _mm256_round_ps(_mm256_mul_ps(xc, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145751953125f), xc);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.428606765330187045e-06f), r);
    __m256 p = _mm256_set1_ps(1.0f / 5040);
    for (float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(c));
    // 2^k = 2^k1 * 2^k2 with both halves in the normal range.
    const __m256i ki = _mm256_cvtps_epi32(k);
    const __m256i k1 = _mm256_srai_epi32(ki, 1), k2 = _mm256_sub_epi32(ki, k1);
    auto pow2 = [](__m256i e) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23)); };
    // Results below the smallest normal float are zero (as in attention_avx512.cpp: no
    // denormal operands for the multiplies that use them).
    const __m256 tiny = _mm256_cmp_ps(x, _mm256_set1_ps(-87.336544f), _CMP_LT_OQ);
    const __m256 y = _mm256_andnot_ps(tiny, _mm256_mul_ps(_mm256_mul_ps(p, pow2(k1)), pow2(k2)));
    return _mm256_blendv_ps(y, x, _mm256_cmp_ps(x, x, _CMP_UNORD_Q));  // NaN stays NaN
}

// Multi-query attention over shared rows (MLA), as in attention_avx512.cpp with two
// 8-lane registers per 16 heads: the queries are stored transposed (qT[c] = the 16
// heads' c-th values), each cache value is broadcast once for all heads in the scores
// and in the values pass, and rows go in blocks of kMqaBlock (converted to float once
// for both passes) under an online softmax.
constexpr int64_t kMqaBlock = 16;

// out[r * 16 + h] = sum_c row_r[c] qT[c * 16 + h] for R rows `stride` floats apart.
template <int R>
inline void mqa_scores(int64_t n_k, const float* qT, const float* row, int64_t stride, float* out) {
    __m256 lo[R], hi[R];
    for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
    for (int64_t c = 0; c < n_k; ++c) {
        const __m256 q0 = _mm256_loadu_ps(qT + c * 16), q1 = _mm256_loadu_ps(qT + c * 16 + 8);
        for (int r = 0; r < R; ++r) {
            const __m256 k = _mm256_broadcast_ss(row + r * stride + c);
            lo[r] = _mm256_fmadd_ps(k, q0, lo[r]);
            hi[r] = _mm256_fmadd_ps(k, q1, hi[r]);
        }
    }
    for (int r = 0; r < R; ++r) {
        _mm256_storeu_ps(out + r * 16, lo[r]);
        _mm256_storeu_ps(out + r * 16 + 8, hi[r]);
    }
}

// O[(i0 + i) * 16 + h] += sum_j P[j * 16 + h] row_j[i0 + i] for NI output values.
template <int NI>
inline void mqa_values(int64_t nb, const float* P, const float* row, int64_t stride, int64_t i0, float* O) {
    __m256 lo[NI], hi[NI];
    for (int i = 0; i < NI; ++i) {
        lo[i] = _mm256_loadu_ps(O + (i0 + i) * 16);
        hi[i] = _mm256_loadu_ps(O + (i0 + i) * 16 + 8);
    }
    for (int64_t j = 0; j < nb; ++j) {
        const __m256 p0 = _mm256_loadu_ps(P + j * 16), p1 = _mm256_loadu_ps(P + j * 16 + 8);
        for (int i = 0; i < NI; ++i) {
            const __m256 v = _mm256_broadcast_ss(row + j * stride + i0 + i);
            lo[i] = _mm256_fmadd_ps(v, p0, lo[i]);
            hi[i] = _mm256_fmadd_ps(v, p1, hi[i]);
        }
    }
    for (int i = 0; i < NI; ++i) {
        _mm256_storeu_ps(O + (i0 + i) * 16, lo[i]);
        _mm256_storeu_ps(O + (i0 + i) * 16 + 8, hi[i]);
    }
}

template <bool F16>
void attn_mqa(int64_t n_k, int64_t n_v, int64_t nq, const float* q, int64_t q_stride, float scale, int64_t n_kv,
              const void* rows, size_t row_stride, float* o, int64_t o_stride, float* lse) {
    thread_local std::vector<float> scratch;
    scratch.resize(size_t(n_k * 16 + n_v * 16 + 2 * kMqaBlock * 16 + (F16 ? kMqaBlock * n_k : 0)));
    float *qT = scratch.data(), *O = qT + n_k * 16, *S = O + n_v * 16, *P = S + kMqaBlock * 16;
    float* buf = P + kMqaBlock * 16;
    for (int64_t g0 = 0; g0 < nq; g0 += 16) {
        const int64_t ng = std::min<int64_t>(16, nq - g0);
        mqa_transpose_queries(q + g0 * q_stride, q_stride, scale, n_k, ng, qT);
        std::fill(O, O + n_v * 16, 0.0f);
        alignas(32) float M[16];
        alignas(32) double L[16] = {};  // the normaliser, summed in double as softmax does
        std::fill(M, M + 16, -INFINITY);
        for (int64_t j0 = 0; j0 < n_kv; j0 += kMqaBlock) {
            const int64_t nb = std::min(kMqaBlock, n_kv - j0);
            const float* base;
            int64_t stride;
            if constexpr (F16) {
                for (int64_t j = 0; j < nb; ++j) {
                    const void* src = row_at(rows, row_stride, j0 + j);
                    int64_t i = 0;
                    for (; i + 8 <= n_k; i += 8) _mm256_storeu_ps(buf + j * n_k + i, load_row<true>(src, i));
                    for (; i < n_k; ++i) buf[j * n_k + i] = load_one<true>(src, i);
                }
                base = buf, stride = n_k;
            } else {
                base = static_cast<const float*>(row_at(rows, row_stride, j0)), stride = int64_t(row_stride / 4);
            }
            int64_t j = 0;
            for (; j + 4 <= nb; j += 4) mqa_scores<4>(n_k, qT, base + j * stride, stride, S + j * 16);
            for (; j < nb; ++j) mqa_scores<1>(n_k, qT, base + j * stride, stride, S + j * 16);
            for (int half = 0; half < 2; ++half) {
                const __m256 m_old = _mm256_load_ps(M + 8 * half);
                __m256 m_new = m_old;
                for (j = 0; j < nb; ++j) m_new = _mm256_max_ps(m_new, _mm256_loadu_ps(S + j * 16 + 8 * half));
                if (_mm256_movemask_ps(_mm256_cmp_ps(m_new, m_old, _CMP_NEQ_OQ)) != 0) {
                    // A new maximum: earlier terms shrink by exp(M - Mn) (0 for the first block).
                    const __m256 alpha = exp8(_mm256_sub_ps(m_old, m_new));
                    double* l = L + 8 * half;
                    _mm256_store_pd(l, _mm256_mul_pd(_mm256_load_pd(l), _mm256_cvtps_pd(_mm256_castps256_ps128(alpha))));
                    _mm256_store_pd(l + 4, _mm256_mul_pd(_mm256_load_pd(l + 4), _mm256_cvtps_pd(_mm256_extractf128_ps(alpha, 1))));
                    for (int64_t i = 0; i < n_v; ++i)
                        _mm256_storeu_ps(O + i * 16 + 8 * half, _mm256_mul_ps(_mm256_loadu_ps(O + i * 16 + 8 * half), alpha));
                    _mm256_store_ps(M + 8 * half, m_new);
                }
                __m256d l0 = _mm256_load_pd(L + 8 * half), l1 = _mm256_load_pd(L + 8 * half + 4);
                for (j = 0; j < nb; ++j) {
                    const __m256 p = exp8(_mm256_sub_ps(_mm256_loadu_ps(S + j * 16 + 8 * half), m_new));
                    _mm256_storeu_ps(P + j * 16 + 8 * half, p);
                    l0 = _mm256_add_pd(l0, _mm256_cvtps_pd(_mm256_castps256_ps128(p)));
                    l1 = _mm256_add_pd(l1, _mm256_cvtps_pd(_mm256_extractf128_ps(p, 1)));
                }
                _mm256_store_pd(L + 8 * half, l0);
                _mm256_store_pd(L + 8 * half + 4, l1);
            }
            int64_t i = 0;
            for (; i + 6 <= n_v; i += 6) mqa_values<6>(nb, P, base, stride, i, O);
            for (; i < n_v; ++i) mqa_values<1>(nb, P, base, stride, i, O);
        }
        mqa_finish(O, n_v, M, L, ng, o + g0 * o_stride, o_stride, lse + g0);
    }
}

void swiglu(float* gate, const float* up, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)),
                                                 _mm256_loadu_ps(up + i)));
    }
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

float softmax(float* x, int64_t n, float scale) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
        x[i] *= scale;
        mx = std::max(mx, x[i]);
    }
    double sum = 0.0;
    int64_t i = 0;
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (; i + 8 <= n; i += 8) {
        const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(mx)));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    sum = hsum(_mm256_add_pd(s0, s1));
    for (; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = float(1.0 / sum);
    for (i = 0; i < n; ++i) {  // normalised, and again no denormals
        const float y = x[i] * inv;
        x[i] = y >= FLT_MIN ? y : 0.0f;
    }
    return mx + float(std::log(sum));
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

}  // namespace dsm::kernels::avx2
