// Matrix products of weights (any tensor type) with float activations, threaded.
#pragma once
#include <cstdint>
#include <vector>

#include "core/thread_pool.hpp"
#include "core/weight.hpp"

namespace dsm::kernels {

// y[t * y_stride + r] = dot(W row r, x[t * x_stride .. + W.cols]) for r < W.rows,
// t < n_tokens. Activations are converted once to the weight type's activation type
// (see activation_type) in `scratch`; the products run on W's packed copy when the
// active table wrote it (kernels/pack.hpp; packing a stack's matrix on demand here),
// else on the table's gemm / gemv tiles, else one vec_dot per (row, token) pair.
// f32_activations: dequantize weight rows and keep activations in F32 instead
// (reference precision, no activation rounding; slow).
void matmul(const Weight& w, const float* x, int64_t x_stride, int64_t n_tokens, float* y, int64_t y_stride,
            ThreadPool& pool, std::vector<uint8_t>& scratch, bool f32_activations = false);

}  // namespace dsm::kernels
