// Scale searches used by the quantizers: given a group of values and per-value
// weights, find integer levels L and a scale (and for the affine fits a min) that
// minimise the weighted squared (or absolute) error. They follow the algorithms of
// ggml's k-quant quantizers (and the same float evaluation order, so our output
// bytes equal llama-quantize's on the same input).
#pragma once
#include <cstdint>

namespace dsm::quant_detail {

// Symmetric fit x ~ scale * l with l in [-nmax, nmax-1]. Starts from the scale
// that maps the value of largest magnitude to -nmax, refines it by least squares
// and tries 18 nearby starting scales. weights == nullptr means weights x^2.
// Writes L[i] = l + nmax (0..2*nmax-1) and returns the scale (0 for an all-zero
// group, with L all 0).
float fit_symmetric(int n, int nmax, const float* x, const float* weights, int8_t* L);

// Symmetric fit for Q3_K's reference quantizer: the same starting point, then up
// to 5 passes that move single levels while the weighted (x^2) error improves.
// Same output convention as fit_symmetric.
float fit_symmetric_iterative(int n, int nmax, const float* x, int8_t* L);

// Affine fit x ~ scale * l - min_out with l in [0, nmax] and min_out >= 0. Tries
// nstep+1 scales (nmax + rmin + rdelta*k) / (max - min), each followed by a
// weighted least-squares solve for scale and min, and keeps the best by weighted
// squared error (or absolute error if use_mad). weights == nullptr means x^2.
float fit_affine(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* min_out,
                 float rmin, float rdelta, int nstep, bool use_mad);

// Fit of non-negative values x ~ scale * l, l in [0, nmax], weighted by
// weights (required): used to quantize the sub-block scales and mins of a
// super-block when an importance vector is given.
float fit_positive(int n, int nmax, const float* x, const float* weights, uint8_t* L);

}  // namespace dsm::quant_detail
