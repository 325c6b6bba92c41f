// The elementwise building blocks of the transformer: RMSNorm, rotary embedding
// (plain, linear-scaled and YaRN), softmax and SwiGLU. Arithmetic follows llama.cpp's
// CPU backend where it affects rounding (double sums, float angle recurrence).
#pragma once
#include <cstdint>
#include <vector>

#include "models/hparams.hpp"

namespace dsm {

// y = x / sqrt(mean(x^2) + eps) * w   (w may be null: no weight)
void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps);

// cos/sin of every rotated pair at a position: n_rot/2 values each.
class RopeTable {
public:
    explicit RopeTable(const RopeParams& p);
    void angles(int64_t pos, float* cos_out, float* sin_out) const;
    int n_pairs() const { return n_rot_ / 2; }

private:
    RopeParams p_;
    int n_rot_;
    float theta_scale_;
    float corr_low_ = 0, corr_high_ = 0;
    float mscale_ = 1.0f;
};

// Rotates the first n_rot values of one head vector in place.
void rope_rotate(float* x, int n_rot, RopePairing pairing, const float* cos, const float* sin);

// In place: x = softmax(x * scale) over n values; returns log sum_i exp(x_i * scale).
float softmax(float* x, int64_t n, float scale);

// gate[i] = silu(gate[i]) * up[i]
void swiglu(float* gate, const float* up, int64_t n);

}  // namespace dsm
