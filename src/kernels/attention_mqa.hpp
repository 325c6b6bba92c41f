// Internal: the scalar steps every fused multi-query attention kernel (attn_mqa in the
// kernel tables) shares around its SIMD loops. The kernels keep 16 heads to a vector
// set: lane h of every vector belongs to head h.
#pragma once
#include <cmath>
#include <cstdint>

namespace dsm::kernels {
namespace {  // each kernel file compiles its own copy with its own instruction set

// qT[c * 16 + h] = scale * q[h * q_stride + c] for the ng (<= 16) heads, 0 in the lanes
// past them.
inline void mqa_transpose_queries(const float* q, int64_t q_stride, float scale, int64_t n_k, int64_t ng,
                                  float* qT) {
    for (int64_t c = 0; c < n_k; ++c)
        for (int64_t h = 0; h < 16; ++h) qT[c * 16 + h] = h < ng ? scale * q[h * q_stride + c] : 0.0f;
}

// From the value-major accumulators O[i * 16 + h], the running maxima M and normalisers
// L: o[h * o_stride + i] = O[i * 16 + h] / L[h] and lse[h] = M[h] + log L[h], h < ng.
inline void mqa_finish(const float* O, int64_t n_v, const float* M, const double* L, int64_t ng, float* o,
                       int64_t o_stride, float* lse) {
    for (int64_t h = 0; h < ng; ++h) {
        const float inv = float(1.0 / L[h]);
        float* oh = o + h * o_stride;
        for (int64_t i = 0; i < n_v; ++i) oh[i] = O[i * 16 + h] * inv;
        lse[h] = M[h] + float(std::log(L[h]));
    }
}

}  // namespace
}  // namespace dsm::kernels
