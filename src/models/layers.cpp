#include "models/layers.hpp"

#include <algorithm>
#include <cmath>

#include "kernels/kernels.hpp"

namespace dsm {

void rms_norm(const float* x, const float* w, float* y, int64_t n, float eps) {
    double sum = 0.0;
    for (int64_t i = 0; i < n; ++i) sum += double(x[i]) * double(x[i]);
    const float mean = float(sum / double(n));
    const float scale = 1.0f / std::sqrt(mean + eps);
    if (w) {
        for (int64_t i = 0; i < n; ++i) y[i] = (x[i] * scale) * w[i];
    } else {
        for (int64_t i = 0; i < n; ++i) y[i] = x[i] * scale;
    }
}

namespace {
// Dimension index below which YaRN keeps extrapolated (unscaled) frequencies.
float yarn_corr_dim(int n_dims, int n_ctx_orig, float n_rot, float base) {
    return float(n_dims) * std::log(float(n_ctx_orig) / (n_rot * 2.0f * float(M_PI))) / (2.0f * std::log(base));
}
}  // namespace

RopeTable::RopeTable(const RopeParams& p) : p_(p), n_rot_(p.n_rot) {
    theta_scale_ = std::pow(p.freq_base, -2.0f / float(n_rot_));
    mscale_ = p.yarn_attn_factor;
    if (p.yarn && p.yarn_ext_factor != 0.0f) {
        const float lo = std::floor(yarn_corr_dim(n_rot_, p.yarn_orig_ctx, p.yarn_beta_fast, p.freq_base));
        const float hi = std::ceil(yarn_corr_dim(n_rot_, p.yarn_orig_ctx, p.yarn_beta_slow, p.freq_base));
        corr_low_ = std::max(0.0f, lo);
        corr_high_ = std::min(float(n_rot_ - 1), hi);
        mscale_ *= 1.0f + 0.1f * std::log(1.0f / p.freq_scale);
    }
}

void RopeTable::angles(int64_t pos, float* cos_out, float* sin_out) const {
    // The angle is built by repeated multiplication in float, as ggml does, so
    // rounding matches the reference implementation.
    float theta_extrap = float(pos);
    for (int i = 0; i < n_rot_ / 2; ++i) {
        const float theta_interp = p_.freq_scale * theta_extrap;
        float theta = theta_interp;
        if (p_.yarn && p_.yarn_ext_factor != 0.0f) {
            const float y = (float(i) - corr_low_) / std::max(0.001f, corr_high_ - corr_low_);
            const float ramp = (1.0f - std::min(1.0f, std::max(0.0f, y))) * p_.yarn_ext_factor;
            theta = theta_interp * (1.0f - ramp) + theta_extrap * ramp;
        }
        cos_out[i] = std::cos(theta) * mscale_;
        sin_out[i] = std::sin(theta) * mscale_;
        theta_extrap *= theta_scale_;
    }
}

void rope_rotate(float* x, int n_rot, RopePairing pairing, const float* cos, const float* sin) {
    const int half = n_rot / 2;
    for (int i = 0; i < half; ++i) {
        const int a = pairing == RopePairing::Adjacent ? 2 * i : i;
        const int b = pairing == RopePairing::Adjacent ? 2 * i + 1 : i + half;
        const float x0 = x[a], x1 = x[b];
        x[a] = x0 * cos[i] - x1 * sin[i];
        x[b] = x0 * sin[i] + x1 * cos[i];
    }
}

// The element-wise functions run on the active kernel table (the scalar table
// holds the plain loops).
float softmax(float* x, int64_t n, float scale) { return kernels::active().softmax(x, n, scale); }

void merge_attention_parts(const float* parts, const float* lse, int64_t chunks, int64_t heads, int64_t n_out,
                           float* out, int64_t out_stride) {
    for (int64_t h = 0; h < heads; ++h) {
        float top = -INFINITY, total = 0;
        for (int64_t c = 0; c < chunks; ++c) top = std::max(top, lse[c * heads + h]);
        for (int64_t c = 0; c < chunks; ++c) total += std::exp(lse[c * heads + h] - top);
        float* oh = out + h * out_stride;
        std::fill(oh, oh + n_out, 0.0f);
        for (int64_t c = 0; c < chunks; ++c) {
            const float wc = std::exp(lse[c * heads + h] - top) / total, *part = parts + (c * heads + h) * n_out;
            for (int64_t i = 0; i < n_out; ++i) oh[i] += wc * part[i];
        }
    }
}

void swiglu(float* gate, const float* up, int64_t n) { kernels::active().swiglu(gate, up, n); }

}  // namespace dsm
