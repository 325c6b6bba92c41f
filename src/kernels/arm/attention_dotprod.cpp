// NEON attention over the KV cache (float or fp16 rows) and the element-wise layer
// functions (SwiGLU, softmax) with a vector exp.
//
// Scores: tiles of 2 query heads x 4 cache rows share every loaded chunk (8 sums).
// Values: 4 heads x 16 outputs per pass, each cache row chunk converted once per pass.
// MLA's multi-query form has its own fused kernel (attn_mqa, below).
#include <arm_neon.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <vector>

#include "core/fp16.hpp"
#include "kernels/attention_mqa.hpp"
#include "kernels/arm/arm.hpp"

namespace dsm::kernels::arm {
namespace {

template <bool F16>
inline float32x4_t load4(const void* row, int64_t i) {
    if constexpr (F16)
        return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(static_cast<const uint16_t*>(row) + i)));
    else
        return vld1q_f32(static_cast<const float*>(row) + i);
}
template <bool F16>
inline float load1(const void* row, int64_t i) {
    if constexpr (F16)
        return fp16_to_f32(static_cast<const uint16_t*>(row)[i]);
    else
        return static_cast<const float*>(row)[i];
}
inline const void* row_at(const void* base, size_t stride, int64_t j) {
    return static_cast<const uint8_t*>(base) + size_t(j) * stride;
}

template <bool F16, int HQ, int JK>
void scores_tile(int64_t n, const float* q, int64_t q_stride, const void* k, size_t row_stride, float* s,
                 int64_t s_stride) {
    float32x4_t acc[HQ][JK];
    for (int h = 0; h < HQ; ++h)
        for (int j = 0; j < JK; ++j) acc[h][j] = vdupq_n_f32(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t kv[JK];
        for (int j = 0; j < JK; ++j) kv[j] = load4<F16>(row_at(k, row_stride, j), i);
        for (int h = 0; h < HQ; ++h) {
            const float32x4_t qv = vld1q_f32(q + h * q_stride + i);
            for (int j = 0; j < JK; ++j) acc[h][j] = vfmaq_f32(acc[h][j], qv, kv[j]);
        }
    }
    for (int h = 0; h < HQ; ++h)
        for (int j = 0; j < JK; ++j) {
            float sum = vaddvq_f32(acc[h][j]);
            for (int64_t t = i; t < n; ++t) sum += q[h * q_stride + t] * load1<F16>(row_at(k, row_stride, j), t);
            s[h * s_stride + j] = sum;
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

// Outputs i0 .. i0 + 15 (all in range) of HQ heads.
template <bool F16, int HQ>
void values_pass(int64_t i0, const float* p, int64_t p_stride, int64_t n_kv, const void* v, size_t row_stride,
                 float* o, int64_t o_stride) {
    float32x4_t acc[HQ][4];
    for (int h = 0; h < HQ; ++h)
        for (int c = 0; c < 4; ++c) acc[h][c] = vdupq_n_f32(0);
    for (int64_t j = 0; j < n_kv; ++j) {
        const void* row = row_at(v, row_stride, j);
        float32x4_t vv[4];
        for (int c = 0; c < 4; ++c) vv[c] = load4<F16>(row, i0 + 4 * c);
        for (int h = 0; h < HQ; ++h) {
            const float ph = p[h * p_stride + j];
            for (int c = 0; c < 4; ++c) acc[h][c] = vfmaq_n_f32(acc[h][c], vv[c], ph);
        }
    }
    for (int h = 0; h < HQ; ++h)
        for (int c = 0; c < 4; ++c) vst1q_f32(o + h * o_stride + i0 + 4 * c, acc[h][c]);
}

template <bool F16>
void attn_values(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                 size_t row_stride, float* o, int64_t o_stride) {
    const int64_t full = n - n % 16;
    for (int64_t h = 0; h < nq; h += 4) {
        const int hq = int(std::min<int64_t>(4, nq - h));
        const float* ph = p + h * p_stride;
        float* oh = o + h * o_stride;
        for (int64_t i0 = 0; i0 < full; i0 += 16) {
            switch (hq) {
            case 4: values_pass<F16, 4>(i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            case 3: values_pass<F16, 3>(i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            case 2: values_pass<F16, 2>(i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            default: values_pass<F16, 1>(i0, ph, p_stride, n_kv, v, row_stride, oh, o_stride); break;
            }
        }
        for (int hh = 0; hh < hq; ++hh) {  // the last n % 16 outputs
            float* out = oh + hh * o_stride;
            std::fill(out + full, out + n, 0.0f);
            for (int64_t j = 0; j < n_kv; ++j)
                for (int64_t i = full; i < n; ++i) out[i] += ph[hh * p_stride + j] * load1<F16>(row_at(v, row_stride, j), i);
        }
    }
}

// exp(x) to about 1 ulp: x = k ln2 + r, |r| <= ln2 / 2, degree-7 Taylor polynomial,
// times 2^k built in two halves so that k down to -159 still scales correctly.
inline float32x4_t exp4(float32x4_t x) {
    const float32x4_t xc = vmaxq_f32(vminq_f32(x, vdupq_n_f32(89.0f)), vdupq_n_f32(-110.0f));
    const float32x4_t k = vrndnq_f32(vmulq_f32(xc, vdupq_n_f32(1.44269504088896341f)));
    float32x4_t r = vfmsq_f32(xc, k, vdupq_n_f32(0.693145751953125f));
    r = vfmsq_f32(r, k, vdupq_n_f32(1.428606765330187045e-06f));
    float32x4_t p = vdupq_n_f32(1.0f / 5040);
    for (float c : {1.0f / 720, 1.0f / 120, 1.0f / 24, 1.0f / 6, 0.5f, 1.0f, 1.0f}) p = vfmaq_f32(vdupq_n_f32(c), p, r);
    const int32x4_t ki = vcvtq_s32_f32(k);
    const int32x4_t k1 = vshrq_n_s32(ki, 1), k2 = vsubq_s32(ki, k1);
    auto pow2 = [](int32x4_t e) { return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(e, vdupq_n_s32(127)), 23)); };
    // Results below the smallest normal float are zero, as on x86 (attention_avx512.cpp).
    const uint32x4_t tiny = vcltq_f32(x, vdupq_n_f32(-87.336544f));
    const float32x4_t y = vreinterpretq_f32_u32(
        vbicq_u32(vreinterpretq_u32_f32(vmulq_f32(vmulq_f32(p, pow2(k1)), pow2(k2))), tiny));
    return vbslq_f32(vceqq_f32(x, x), y, x);  // NaN stays NaN
}

// Multi-query attention over shared rows (MLA), as the AVX-512 kernel does it: the 16
// heads' queries are stored transposed (qT[c] = the 16 heads' c-th values, four
// registers), so a score row is 16 heads x 1 cache row and each cache value, taken from
// a register lane (vfmaq_laneq), serves all heads; the values pass likewise multiplies
// the 16 heads' probabilities by one row value per lane. Rows go in blocks of
// kMqaBlock (converted to float once for both passes) under an online softmax.
constexpr int64_t kMqaBlock = 16;

// Lane L of four row chunks against the 16 heads' query values qT[c + L].
template <int R, int L>
inline void mqa_score_lane(const float* qc, const float32x4_t* kv, float32x4_t (*acc)[4]) {
    const float32x4_t q0 = vld1q_f32(qc + 16 * L), q1 = vld1q_f32(qc + 16 * L + 4), q2 = vld1q_f32(qc + 16 * L + 8),
                      q3 = vld1q_f32(qc + 16 * L + 12);
    for (int r = 0; r < R; ++r) {
        acc[r][0] = vfmaq_laneq_f32(acc[r][0], q0, kv[r], L);
        acc[r][1] = vfmaq_laneq_f32(acc[r][1], q1, kv[r], L);
        acc[r][2] = vfmaq_laneq_f32(acc[r][2], q2, kv[r], L);
        acc[r][3] = vfmaq_laneq_f32(acc[r][3], q3, kv[r], L);
    }
}

// out[r * 16 + h] = sum_c row_r[c] qT[c * 16 + h] for R rows `stride` floats apart.
template <int R>
void mqa_scores(int64_t n_k, const float* qT, const float* row, int64_t stride, float* out) {
    float32x4_t acc[R][4];
    for (int r = 0; r < R; ++r)
        for (int k = 0; k < 4; ++k) acc[r][k] = vdupq_n_f32(0);
    int64_t c = 0;
    for (; c + 4 <= n_k; c += 4) {
        float32x4_t kv[R];
        for (int r = 0; r < R; ++r) kv[r] = vld1q_f32(row + r * stride + c);
        const float* qc = qT + c * 16;
        mqa_score_lane<R, 0>(qc, kv, acc);
        mqa_score_lane<R, 1>(qc, kv, acc);
        mqa_score_lane<R, 2>(qc, kv, acc);
        mqa_score_lane<R, 3>(qc, kv, acc);
    }
    for (; c < n_k; ++c)
        for (int r = 0; r < R; ++r)
            for (int k = 0; k < 4; ++k) acc[r][k] = vfmaq_n_f32(acc[r][k], vld1q_f32(qT + c * 16 + 4 * k), row[r * stride + c]);
    for (int r = 0; r < R; ++r)
        for (int k = 0; k < 4; ++k) vst1q_f32(out + r * 16 + 4 * k, acc[r][k]);
}

// Lane L of a row chunk times the 16 heads' probabilities, into output value i0 + L.
template <int L>
inline void mqa_value_lane(const float32x4_t* p, float32x4_t v, float32x4_t* acc) {
    for (int k = 0; k < 4; ++k) acc[4 * L + k] = vfmaq_laneq_f32(acc[4 * L + k], p[k], v, L);
}

// O[(i0 + l) * 16 + h] += sum_j P[j * 16 + h] row_j[i0 + l] for l < 4.
void mqa_values4(int64_t nb, const float* P, const float* row, int64_t stride, int64_t i0, float* O) {
    float32x4_t acc[16];
    for (int k = 0; k < 16; ++k) acc[k] = vld1q_f32(O + i0 * 16 + 4 * k);
    for (int64_t j = 0; j < nb; ++j) {
        const float32x4_t p[4] = {vld1q_f32(P + j * 16), vld1q_f32(P + j * 16 + 4), vld1q_f32(P + j * 16 + 8),
                                  vld1q_f32(P + j * 16 + 12)};
        const float32x4_t v = vld1q_f32(row + j * stride + i0);
        mqa_value_lane<0>(p, v, acc);
        mqa_value_lane<1>(p, v, acc);
        mqa_value_lane<2>(p, v, acc);
        mqa_value_lane<3>(p, v, acc);
    }
    for (int k = 0; k < 16; ++k) vst1q_f32(O + i0 * 16 + 4 * k, acc[k]);
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
        float M[16];
        double L[16] = {};  // the normaliser, summed in double as softmax does
        std::fill(M, M + 16, -INFINITY);
        for (int64_t j0 = 0; j0 < n_kv; j0 += kMqaBlock) {
            const int64_t nb = std::min(kMqaBlock, n_kv - j0);
            const float* base;
            int64_t stride;
            if constexpr (F16) {
                for (int64_t j = 0; j < nb; ++j) {
                    const void* src = row_at(rows, row_stride, j0 + j);
                    int64_t i = 0;
                    for (; i + 4 <= n_k; i += 4) vst1q_f32(buf + j * n_k + i, load4<true>(src, i));
                    for (; i < n_k; ++i) buf[j * n_k + i] = load1<true>(src, i);
                }
                base = buf, stride = n_k;
            } else {
                base = static_cast<const float*>(row_at(rows, row_stride, j0)), stride = int64_t(row_stride / 4);
            }
            int64_t j = 0;
            for (; j + 4 <= nb; j += 4) mqa_scores<4>(n_k, qT, base + j * stride, stride, S + j * 16);
            for (; j < nb; ++j) mqa_scores<1>(n_k, qT, base + j * stride, stride, S + j * 16);
            for (int k = 0; k < 4; ++k) {
                float32x4_t m_old = vld1q_f32(M + 4 * k), m_new = m_old;
                for (j = 0; j < nb; ++j) m_new = vmaxq_f32(m_new, vld1q_f32(S + j * 16 + 4 * k));
                if (vmaxvq_u32(vmvnq_u32(vceqq_f32(m_new, m_old))) != 0) {
                    // A new maximum: earlier terms shrink by exp(M - Mn) (0 for the first block).
                    const float32x4_t alpha = exp4(vsubq_f32(m_old, m_new));
                    float a[4];
                    vst1q_f32(a, alpha);
                    for (int l = 0; l < 4; ++l) L[4 * k + l] *= double(a[l]);
                    for (int64_t i = 0; i < n_v; ++i)
                        vst1q_f32(O + i * 16 + 4 * k, vmulq_f32(vld1q_f32(O + i * 16 + 4 * k), alpha));
                    vst1q_f32(M + 4 * k, m_new);
                }
                float64x2_t l0 = vld1q_f64(L + 4 * k), l1 = vld1q_f64(L + 4 * k + 2);
                for (j = 0; j < nb; ++j) {
                    const float32x4_t p = exp4(vsubq_f32(vld1q_f32(S + j * 16 + 4 * k), m_new));
                    vst1q_f32(P + j * 16 + 4 * k, p);
                    l0 = vaddq_f64(l0, vcvt_f64_f32(vget_low_f32(p)));
                    l1 = vaddq_f64(l1, vcvt_high_f64_f32(p));
                }
                vst1q_f64(L + 4 * k, l0);
                vst1q_f64(L + 4 * k + 2, l1);
            }
            int64_t i = 0;
            for (; i + 4 <= n_v; i += 4) mqa_values4(nb, P, base, stride, i, O);
            for (; i < n_v; ++i)
                for (j = 0; j < nb; ++j)
                    for (int64_t h = 0; h < 16; ++h) O[i * 16 + h] += P[j * 16 + h] * base[j * stride + i];
        }
        mqa_finish(O, n_v, M, L, ng, o + g0 * o_stride, o_stride, lse + g0);
    }
}

void swiglu(float* gate, const float* up, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t g = vld1q_f32(gate + i);
        const float32x4_t silu = vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), exp4(vnegq_f32(g))));
        vst1q_f32(gate + i, vmulq_f32(silu, vld1q_f32(up + i)));
    }
    for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

float softmax(float* x, int64_t n, float scale) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
        x[i] *= scale;
        mx = std::max(mx, x[i]);
    }
    float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t e = exp4(vsubq_f32(vld1q_f32(x + i), vdupq_n_f32(mx)));
        vst1q_f32(x + i, e);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
    }
    double sum = vaddvq_f64(vaddq_f64(s0, s1));
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

}  // namespace dsm::kernels::arm
