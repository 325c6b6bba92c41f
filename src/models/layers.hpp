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

// Attention of `heads` heads computed over `chunks` disjoint ranges of cache rows,
// each normalised within its range: part c of head h at parts[(c * heads + h) * n_out],
// its log-normaliser at lse[c * heads + h]. Writes the attention over all the rows,
// head h at out[h * out_stride]. (Flash-decoding's merge: weights exp(lse_c - max).)
void merge_attention_parts(const float* parts, const float* lse, int64_t chunks, int64_t heads, int64_t n_out,
                           float* out, int64_t out_stride);

// gate[i] = silu(gate[i]) * up[i]
void swiglu(float* gate, const float* up, int64_t n);

}  // namespace dsm
