// Internal: the k-quant quantizers (quantize_kquants.cpp), called by quantize_row.
#pragma once
#include <cmath>
#include <cstdint>

#include "quant/blocks.hpp"

namespace dsm::quant_detail {

// Each quantizes nb super-blocks of 256 values. importance (nullable) holds
// nb*256 weights; without it the type's default weighting is used, exactly as
// llama-quantize does without an importance matrix.
void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nb, const float* importance);
void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nb, const float* importance);
void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nb, const float* importance);
void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t nb, const float* importance);
void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb, const float* importance);

// Copies n importance values into out, turning negative, infinite and NaN values
// into 0. Returns false if no weight is left positive: the block then has no
// usable importance and is quantized with the default weighting instead (an
// all-zero weighting would let the searches pick a zero scale).
inline bool sanitize_importance(const float* in, int n, float* out) {
    bool any = false;
    for (int i = 0; i < n; ++i) {
        const float w = in[i];
        out[i] = (std::isfinite(w) && w > 0) ? w : 0.f;
        any = any || out[i] > 0;
    }
    return any;
}

}  // namespace dsm::quant_detail
