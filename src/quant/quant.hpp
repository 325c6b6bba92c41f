// Scalar reference conversions between float and every tensor type: the ground
// truth that SIMD kernels are tested against, and what the quantizer uses.
#pragma once
#include <cstdint>

#include "core/dtype.hpp"

namespace dsm {

// Can dequantize_row read this type?
bool can_dequantize(DType t);
// Can quantize_row write this type?
bool can_quantize(DType t);

// dst[0..n) = values of the n elements at src. n must be a multiple of the block size.
void dequantize_row(DType t, const void* src, float* dst, int64_t n);

// Quantizes n floats into blocks of type t (round trip through dequantize_row is the
// type's best-effort approximation). Activation types Q8_0, Q8_1 and Q8_K round
// exactly as llama.cpp's CPU backend does, so dot products reproduce its results.
// importance (nullable, n floats) weights the squared error when the type searches
// for scales (k-quants, Q4_0/Q4_1/Q5_0/Q5_1), as an importance matrix does.
//
// Details. Without importance the output is bit-identical to llama-quantize's
// (ggml's reference quantizers), except Q8_0 which uses the activation rounding
// below. With importance, Q4_0/Q4_1/Q5_0/Q5_1 treat the n values as one tensor
// row (the row's mean square enters the weights) and the k-quants work per
// 256-block, as llama.cpp's imatrix path does; a block whose importance is all
// zero (or negative / non-finite) falls back to the default weighting.
// Throws dsm::Error if t cannot be quantized or n is not a multiple of its block.
void quantize_row(DType t, const float* src, void* dst, int64_t n, const float* importance = nullptr);

// The activation quantizers behind quantize_row(Q8_0 / Q8_1 / Q8_K), without type
// dispatch or checks (n must be a multiple of 32 / 32 / 256); the kernels use them
// as from_float. They reproduce llama.cpp's x86 CPU backend bit for bit:
//   Q8_0: amax = max |x| per 32; d = fp16(amax / 127); q = round-half-even(x * (127 / amax)).
//   Q8_1: as Q8_0, plus s = fp16(d * sum(q)) with the unrounded float d.
//   Q8_K: m = the value of largest |x| per 256 (first on ties); iscale = -127 / m;
//         q = min(127, round-half-even(iscale * x)); d = 1 / iscale (float);
//         bsums = sums of q over each 16. An all-zero block gives d = 0, q = 0.
void quantize_q8_0_activations(const float* x, void* y, int64_t n);
void quantize_q8_1_activations(const float* x, void* y, int64_t n);
void quantize_q8_k_activations(const float* x, void* y, int64_t n);

// llama-quantize's Q8_0 for weights (ggml's reference): d = amax / 127 and
// q = round-half-away-from-zero(x * (1 / d)). Differs from the activation rounding
// in a few values per million; use it to write files identical to llama.cpp's.
void quantize_q8_0_reference(const float* x, void* y, int64_t n);

}  // namespace dsm
