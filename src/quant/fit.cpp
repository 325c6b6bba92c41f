// Scale searches for the quantizers (see fit.hpp). The float expressions are
// written in the order ggml evaluates them: bit-exact agreement with
// llama-quantize depends on it, so do not "simplify" them.
#include "quant/fit.hpp"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <cstring>

#include "quant/unpack.hpp"

namespace dsm::quant_detail {
namespace {

constexpr int kMaxGroup = 32;          // largest group any caller fits
constexpr float kGroupMaxEps = 1e-15f;  // below this a group counts as all zero

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// Index of the value of largest magnitude (first one on ties); amax = its magnitude.
inline float signed_absmax(int n, const float* x, float& amax) {
    float max = 0;
    amax = 0;
    for (int i = 0; i < n; ++i) {
        const float ax = std::fabs(x[i]);
        if (ax > amax) {
            amax = ax;
            max = x[i];
        }
    }
    return max;
}

// Weighted sums for a symmetric candidate scale: sum w*x*l and sum w*l*l.
struct SymSums {
    float sumlx = 0, suml2 = 0;
};

inline SymSums symmetric_levels(int n, int nmax, const float* x, const float* weights, float iscale,
                                int8_t* levels) {
    SymSums s;
    for (int i = 0; i < n; ++i) {
        const int l = clamp_int(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        levels[i] = int8_t(l);
        const float w = weights ? weights[i] : x[i] * x[i];
        s.sumlx += w * x[i] * float(l);
        s.suml2 += w * float(l) * float(l);
    }
    return s;
}

}  // namespace

float fit_symmetric(int n, int nmax, const float* x, const float* weights, int8_t* L) {
    assert(n <= kMaxGroup);
    float amax;
    const float max = signed_absmax(n, x, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    int8_t levels[kMaxGroup];
    SymSums s = symmetric_levels(n, nmax, x, weights, float(-nmax) / max, levels);
    for (int i = 0; i < n; ++i) L[i] = int8_t(levels[i] + nmax);
    float scale = s.suml2 != 0 ? s.sumlx / s.suml2 : 0.0f;
    float best = scale * s.sumlx;  // = (sum w x l)^2 / sum w l^2: larger is a smaller error
    for (int step = -9; step <= 9; ++step) {
        if (step == 0) continue;
        const float iscale = -(float(nmax) + 0.1f * float(step)) / max;
        s = symmetric_levels(n, nmax, x, weights, iscale, levels);
        if (s.suml2 > 0 && s.sumlx * s.sumlx > best * s.suml2) {
            for (int i = 0; i < n; ++i) L[i] = int8_t(levels[i] + nmax);
            scale = s.sumlx / s.suml2;
            best = scale * s.sumlx;
        }
    }
    return scale;
}

float fit_symmetric_iterative(int n, int nmax, const float* x, int8_t* L) {
    assert(n <= kMaxGroup);
    float amax;
    const float max = signed_absmax(n, x, amax);
    if (amax < kGroupMaxEps) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    const SymSums start = symmetric_levels(n, nmax, x, nullptr, float(-nmax) / max, L);
    float sumlx = start.sumlx, suml2 = start.suml2;
    // Move one level at a time to its least-squares optimum given all the others;
    // accept the move if the fit (sumlx^2 / suml2) improves.
    for (int pass = 0; pass < 5; ++pass) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = x[i] * x[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            if (slx > 0) {
                float sl2 = suml2 - w * float(L[i]) * float(L[i]);
                const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), -nmax, nmax - 1);
                if (new_l != L[i]) {
                    slx += w * x[i] * float(new_l);
                    sl2 += w * float(new_l) * float(new_l);
                    if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = int8_t(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (!changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = int8_t(L[i] + nmax);
    return sumlx / suml2;
}

float fit_affine(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* min_out,
                 float rmin, float rdelta, int nstep, bool use_mad) {
    assert(n <= kMaxGroup);
    auto weight = [&](int i) { return weights ? weights[i] : x[i] * x[i]; };
    float min = x[0], max = x[0];
    float sum_w = weight(0);
    float sum_x = sum_w * x[0];
    for (int i = 1; i < n; ++i) {
        if (x[i] < min) min = x[i];
        if (x[i] > max) max = x[i];
        const float w = weight(i);
        sum_w += w;
        sum_x += w * x[i];
    }
    if (min > 0) min = 0;  // the offset only ever moves values up
    if (!(max > min)) {
        std::memset(L, 0, size_t(n));
        *min_out = -min;
        return 0.f;
    }
    auto error_of = [&](float scale, float offset, const uint8_t* levels) {
        float err = 0;
        for (int i = 0; i < n; ++i) {
            float diff = scale * float(levels[i]) + offset - x[i];
            diff = use_mad ? std::fabs(diff) : diff * diff;
            err += weight(i) * diff;
        }
        return err;
    };

    float iscale = float(nmax) / (max - min);
    float scale = 1 / iscale;
    for (int i = 0; i < n; ++i) L[i] = uint8_t(clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax));
    float best_err = error_of(scale, min, L);
    if (nstep < 1) {
        *min_out = -min;
        return scale;
    }
    uint8_t levels[kMaxGroup];
    for (int step = 0; step <= nstep; ++step) {
        iscale = (rmin + rdelta * float(step) + float(nmax)) / (max - min);
        float sum_l = 0, sum_l2 = 0, sum_xl = 0;
        for (int i = 0; i < n; ++i) {
            const int l = clamp_int(nearest_int(iscale * (x[i] - min)), 0, nmax);
            levels[i] = uint8_t(l);
            const float w = weight(i);
            sum_l += w * float(l);
            sum_l2 += w * float(l) * float(l);
            sum_xl += w * float(l) * x[i];
        }
        // Weighted least squares for x ~ scale * l + offset over these levels.
        const float D = sum_w * sum_l2 - sum_l * sum_l;
        if (D > 0) {
            float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
            float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
            if (this_min > 0) {
                this_min = 0;
                this_scale = sum_xl / sum_l2;
            }
            const float err = error_of(this_scale, this_min, levels);
            if (err < best_err) {
                std::memcpy(L, levels, size_t(n));
                best_err = err;
                scale = this_scale;
                min = this_min;
            }
        }
    }
    *min_out = -min;
    return scale;
}

float fit_positive(int n, int nmax, const float* x, const float* weights, uint8_t* L) {
    assert(n <= kMaxGroup);
    float max = 0;
    for (int i = 0; i < n; ++i) max = max > x[i] ? max : x[i];
    if (!(max > 0)) {
        std::memset(L, 0, size_t(n));
        return 0.f;
    }
    auto level = [&](float iscale, int i) { return clamp_int(nearest_int(iscale * x[i]), 0, nmax); };

    // Pick the best of 9 starting scales by weighted squared error.
    float iscale = float(nmax) / max;
    float best_mse = 0;
    {
        const float scale = 1 / iscale;
        for (int i = 0; i < n; ++i) {
            const float diff = x[i] - scale * float(level(iscale, i));
            best_mse += weights[i] * diff * diff;
        }
    }
    for (int step = -4; step <= 4; ++step) {
        if (step == 0) continue;
        const float iscale_step = (0.1f * float(step) + float(nmax)) / max;
        const float scale_step = 1 / iscale_step;
        float mse = 0;
        for (int i = 0; i < n; ++i) {
            const float diff = x[i] - scale_step * float(level(iscale_step, i));
            mse += weights[i] * diff * diff;
        }
        if (mse < best_mse) {
            best_mse = mse;
            iscale = iscale_step;
        }
    }

    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
        const int l = level(iscale, i);
        L[i] = uint8_t(l);
        sumlx += weights[i] * x[i] * float(l);
        suml2 += weights[i] * float(l) * float(l);
    }
    // Coordinate descent on single levels, as in fit_symmetric_iterative.
    for (int pass = 0; pass < 5; ++pass) {
        int changed = 0;
        for (int i = 0; i < n; ++i) {
            const float w = weights[i];
            float slx = sumlx - w * x[i] * float(L[i]);
            float sl2 = suml2 - w * float(L[i]) * float(L[i]);
            if (slx > 0 && sl2 > 0) {
                const int new_l = clamp_int(nearest_int(x[i] * sl2 / slx), 0, nmax);
                if (new_l != L[i]) {
                    slx += w * x[i] * float(new_l);
                    sl2 += w * float(new_l) * float(new_l);
                    if (slx * slx * suml2 > sumlx * sumlx * sl2) {
                        L[i] = uint8_t(new_l);
                        sumlx = slx;
                        suml2 = sl2;
                        ++changed;
                    }
                }
            }
        }
        if (!changed) break;
    }
    // All weight on zero levels (zero importance): keep the chosen starting scale.
    return suml2 > 0 ? sumlx / suml2 : 1 / iscale;
}

}  // namespace dsm::quant_detail
