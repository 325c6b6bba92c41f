// Scalar attention and layer helpers: the plain loops the models used before the
// kernel tables had them (float sums in order), kept as the reference.
#include <algorithm>
#include <cmath>

#include "core/fp16.hpp"
#include "kernels/scalar/scalar.hpp"

namespace dsm::kernels::scalar {
namespace {

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const uint16_t* p, int64_t i) { return fp16_to_f32(p[i]); }

template <typename T>
void scores(int64_t n, int64_t nq, const float* q, int64_t q_stride, int64_t n_kv, const void* k, size_t row_stride,
            float* s, int64_t s_stride) {
    for (int64_t h = 0; h < nq; ++h) {
        for (int64_t j = 0; j < n_kv; ++j) {
            const T* kj = reinterpret_cast<const T*>(static_cast<const uint8_t*>(k) + size_t(j) * row_stride);
            float sum = 0.0f;
            for (int64_t i = 0; i < n; ++i) sum += q[h * q_stride + i] * load(kj, i);
            s[h * s_stride + j] = sum;
        }
    }
}

template <typename T>
void values(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v, size_t row_stride,
            float* o, int64_t o_stride) {
    for (int64_t h = 0; h < nq; ++h) {
        float* out = o + h * o_stride;
        std::fill(out, out + n, 0.0f);
        for (int64_t j = 0; j < n_kv; ++j) {
            const T* vj = reinterpret_cast<const T*>(static_cast<const uint8_t*>(v) + size_t(j) * row_stride);
            const float pj = p[h * p_stride + j];
            for (int64_t i = 0; i < n; ++i) out[i] += pj * load(vj, i);
        }
    }
}

}  // namespace

void attn_scores_f32(int64_t n, int64_t nq, const float* q, int64_t q_stride, int64_t n_kv, const void* k,
                     size_t row_stride, float* s, int64_t s_stride) {
    scores<float>(n, nq, q, q_stride, n_kv, k, row_stride, s, s_stride);
}
void attn_scores_f16(int64_t n, int64_t nq, const float* q, int64_t q_stride, int64_t n_kv, const void* k,
                     size_t row_stride, float* s, int64_t s_stride) {
    scores<uint16_t>(n, nq, q, q_stride, n_kv, k, row_stride, s, s_stride);
}
void attn_values_f32(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                     size_t row_stride, float* o, int64_t o_stride) {
    values<float>(n, nq, p, p_stride, n_kv, v, row_stride, o, o_stride);
}
void attn_values_f16(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                     size_t row_stride, float* o, int64_t o_stride) {
    values<uint16_t>(n, nq, p, p_stride, n_kv, v, row_stride, o, o_stride);
}

void swiglu(float* gate, const float* up, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
        const float g = gate[i];
        gate[i] = g / (1.0f + std::exp(-g)) * up[i];
    }
}

float softmax(float* x, int64_t n, float scale) {
    float mx = -INFINITY;
    for (int64_t i = 0; i < n; ++i) {
        x[i] *= scale;
        mx = std::max(mx, x[i]);
    }
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) {
        x[i] = std::exp(x[i] - mx);
        sum += x[i];
    }
    const float inv = float(1.0 / sum);
    for (int64_t i = 0; i < n; ++i) x[i] *= inv;
    return mx + float(std::log(sum));
}

}  // namespace dsm::kernels::scalar
