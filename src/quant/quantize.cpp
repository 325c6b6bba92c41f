// quantize_row: float -> every writable tensor type. This file has the plain
// float types, the 32-element "legacy" quants and the 8-bit activation types;
// the k-quants are in quantize_kquants.cpp and the scale searches in fit.cpp.
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "core/fp16.hpp"
#include "quant/blocks.hpp"
#include "quant/fit.hpp"
#include "quant/kquants.hpp"
#include "quant/quant.hpp"
#include "quant/unpack.hpp"

namespace dsm {
namespace {

using quant_detail::nearest_int;

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

// (int)v for v in (0, hi), 0 below, hi at or above: the truncating conversion of
// ggml's reference quantizers, made safe for NaN and out-of-range values.
inline int trunc_clamped(float v, int hi) {
    if (!(v > 0)) return 0;
    if (v >= float(hi)) return hi;
    return int(v);
}

// Packs 32 five-bit levels into Q5 nibbles (qs) and the 5th bits (qh, little endian).
void pack_q5(const uint8_t* L, uint8_t qs[16], uint8_t qh[4]) {
    uint32_t bits = 0;
    for (int j = 0; j < 16; ++j) {
        qs[j] = uint8_t((L[j] & 0x0f) | ((L[j + 16] & 0x0f) << 4));
        bits |= uint32_t((L[j] >> 4) & 1) << j;
        bits |= uint32_t((L[j + 16] >> 4) & 1) << (j + 16);
    }
    std::memcpy(qh, &bits, 4);
}

// The value of largest magnitude in x[0..n) (the first one on ties) and its magnitude.
inline float signed_absmax(const float* x, int n, float& amax) {
    float max = 0;
    amax = 0;
    for (int j = 0; j < n; ++j) {
        if (amax < std::fabs(x[j])) {
            amax = std::fabs(x[j]);
            max = x[j];
        }
    }
    return max;
}

// ---- reference quantizers (no importance): symmetric from the largest value,
// or affine from min/max, rounding as ggml's *_ref functions do.

// Q4_0 / Q5_0: d = max / -half, level = trunc(x / d + half + 0.5) clamped.
template <int Half>
float symmetric_ref(const float* x, uint8_t* L) {
    float amax;
    const float max = signed_absmax(x, 32, amax);
    const float d = max / float(-Half);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) L[j] = uint8_t(trunc_clamped(x[j] * id + (float(Half) + 0.5f), 2 * Half - 1));
    return d;
}

// Q4_1 / Q5_1: d = (max - min) / levels, level = trunc((x - min) / d + 0.5).
template <int Levels>
void affine_ref(const float* x, uint8_t* L, float& d, float& min) {
    min = x[0];
    float max = x[0];
    for (int j = 1; j < 32; ++j) {
        if (x[j] < min) min = x[j];
        if (x[j] > max) max = x[j];
    }
    d = (max - min) / float(Levels);
    const float id = d != 0 ? 1.0f / d : 0.0f;
    for (int j = 0; j < 32; ++j) L[j] = uint8_t(trunc_clamped((x[j] - min) * id + 0.5f, Levels));
}

// Mean square of a row, the sigma^2 of the importance weighting of the legacy types.
float row_sigma2(const float* x, int64_t n) {
    float sum_x2 = 0;
    for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
    return sum_x2 / float(n);
}

// Importance weights of one block: imp * sqrt(sigma2 + x^2).
void legacy_weights(const float* x, const float* imp, float sigma2, float* w) {
    for (int j = 0; j < 32; ++j) w[j] = imp[j] * std::sqrt(sigma2 + x[j] * x[j]);
}

void quantize_q4_0(const float* x, BlockQ4_0* y, int64_t nb, const float* importance) {
    const float sigma2 = importance ? row_sigma2(x, nb * 32) : 0.f;
    for (int64_t i = 0; i < nb; ++i, x += 32) {
        uint8_t L[32];
        float imp[32], w[32];
        float d;
        if (importance && quant_detail::sanitize_importance(importance + 32 * i, 32, imp)) {
            legacy_weights(x, imp, sigma2, w);
            d = quant_detail::fit_symmetric(32, 8, x, w, reinterpret_cast<int8_t*>(L));
        } else {
            d = symmetric_ref<8>(x, L);
        }
        y[i].d = f32_to_fp16(d);
        for (int j = 0; j < 16; ++j) y[i].qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
    }
}

void quantize_q5_0(const float* x, BlockQ5_0* y, int64_t nb, const float* importance) {
    const float sigma2 = importance ? row_sigma2(x, nb * 32) : 0.f;
    for (int64_t i = 0; i < nb; ++i, x += 32) {
        uint8_t L[32];
        float imp[32], w[32];
        float d;
        if (importance && quant_detail::sanitize_importance(importance + 32 * i, 32, imp)) {
            legacy_weights(x, imp, sigma2, w);
            d = quant_detail::fit_symmetric(32, 16, x, w, reinterpret_cast<int8_t*>(L));
        } else {
            d = symmetric_ref<16>(x, L);
        }
        y[i].d = f32_to_fp16(d);
        pack_q5(L, y[i].qs, y[i].qh);
    }
}

void quantize_q4_1(const float* x, BlockQ4_1* y, int64_t nb, const float* importance) {
    const float sigma2 = importance ? row_sigma2(x, nb * 32) : 0.f;
    for (int64_t i = 0; i < nb; ++i, x += 32) {
        uint8_t L[32];
        float imp[32], w[32];
        float d, min;
        if (importance && quant_detail::sanitize_importance(importance + 32 * i, 32, imp)) {
            legacy_weights(x, imp, sigma2, w);
            float neg_min;
            d = quant_detail::fit_affine(32, 15, x, w, L, &neg_min, -0.9f, 0.05f, 36, false);
            min = -neg_min;
        } else {
            affine_ref<15>(x, L, d, min);
        }
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        for (int j = 0; j < 16; ++j) y[i].qs[j] = uint8_t(L[j] | (L[j + 16] << 4));
    }
}

void quantize_q5_1(const float* x, BlockQ5_1* y, int64_t nb, const float* importance) {
    const float sigma2 = importance ? row_sigma2(x, nb * 32) : 0.f;
    for (int64_t i = 0; i < nb; ++i, x += 32) {
        uint8_t L[32];
        float imp[32], w[32];
        float d, min;
        if (importance && quant_detail::sanitize_importance(importance + 32 * i, 32, imp)) {
            legacy_weights(x, imp, sigma2, w);
            float neg_min;
            d = quant_detail::fit_affine(32, 31, x, w, L, &neg_min, -0.9f, 0.05f, 36, false);
            min = -neg_min;
        } else {
            affine_ref<31>(x, L, d, min);
        }
        y[i].d = f32_to_fp16(d);
        y[i].m = f32_to_fp16(min);
        pack_q5(L, y[i].qs, y[i].qh);
    }
}

// Shared by Q8_0 and Q8_1: fills d and qs of one block, returns the float d and
// the sum of the quants.
inline float q8_block(const float* x, uint16_t& d_out, int8_t* qs, int& sum) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
    const float d = amax / 127.f;
    // llama.cpp's SIMD path multiplies by 127/amax (not 1/d) and rounds half to even.
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    d_out = f32_to_fp16(d);
    sum = 0;
    for (int j = 0; j < 32; ++j) {
        qs[j] = int8_t(clamp_int(nearest_int(x[j] * id), -128, 127));
        sum += qs[j];
    }
    return d;
}

}  // namespace

void quantize_q8_0_activations(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_0*>(y);
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        int sum;
        q8_block(x + i * kQK8_0, b[i].d, b[i].qs, sum);
    }
}

void quantize_q8_1_activations(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_1*>(y);
    for (int64_t i = 0; i < n / kQK8_1; ++i) {
        int sum;
        const float d = q8_block(x + i * kQK8_1, b[i].d, b[i].qs, sum);
        b[i].s = f32_to_fp16(d * float(sum));
    }
}

void quantize_q8_0_reference(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_0*>(y);
    for (int64_t i = 0; i < n / kQK8_0; ++i, x += kQK8_0) {
        float amax = 0;
        for (int j = 0; j < 32; ++j) amax = std::fmax(amax, std::fabs(x[j]));
        const float d = amax / 127.f;
        const float id = d != 0 ? 1.0f / d : 0.0f;
        b[i].d = f32_to_fp16(d);
        for (int j = 0; j < 32; ++j) {
            const float v = std::round(x[j] * id);  // ties away from zero, like roundf
            b[i].qs[j] = int8_t(v >= 127.f ? 127 : (v > -128.f ? int(v) : -128));  // NaN -> -128
        }
    }
}

void quantize_q8_k_activations(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_K*>(y);
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        float max = 0, amax = 0;
        for (int j = 0; j < kQK_K; ++j) {
            const float ax = std::fabs(x[j]);
            if (ax > amax) {
                amax = ax;
                max = x[j];
            }
        }
        if (amax == 0) {
            std::memset(&b[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        // Scaling by -127/max maps the extreme value to exactly -127.
        const float iscale = -127.f / max;
        for (int j = 0; j < kQK_K; ++j) b[i].qs[j] = int8_t(clamp_int(nearest_int(iscale * x[j]), -128, 127));
        for (int g = 0; g < kQK_K / 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += b[i].qs[16 * g + j];
            b[i].bsums[g] = int16_t(sum);
        }
        b[i].d = 1 / iscale;
    }
}

bool can_quantize(DType t) {
    switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::Q8_0: case DType::Q8_1:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K:
    case DType::Q6_K: case DType::Q8_K:
        return true;
    default:
        return false;
    }
}

void quantize_row(DType t, const float* src, void* dst, int64_t n, const float* importance) {
    if (!can_quantize(t))
        throw Error("quantize_row: cannot quantize to type " + std::string(dtype_name(t)));
    const int64_t bs = info(t).block_size;
    if (n < 0 || n % bs != 0)
        throw Error("quantize_row: " + std::to_string(n) + " elements is not a multiple of the " +
                    std::string(dtype_name(t)) + " block size " + std::to_string(bs));
    const int64_t nb = n / bs;
    switch (t) {
    case DType::F32:
        if (n) std::memcpy(dst, src, size_t(n) * sizeof(float));
        return;
    case DType::F16: {
        auto* h = static_cast<uint16_t*>(dst);
        for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(src[i]);
        return;
    }
    case DType::BF16: {
        auto* h = static_cast<uint16_t*>(dst);
        for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(src[i]);
        return;
    }
    case DType::Q4_0: return quantize_q4_0(src, static_cast<BlockQ4_0*>(dst), nb, importance);
    case DType::Q4_1: return quantize_q4_1(src, static_cast<BlockQ4_1*>(dst), nb, importance);
    case DType::Q5_0: return quantize_q5_0(src, static_cast<BlockQ5_0*>(dst), nb, importance);
    case DType::Q5_1: return quantize_q5_1(src, static_cast<BlockQ5_1*>(dst), nb, importance);
    case DType::Q8_0: return quantize_q8_0_activations(src, dst, n);
    case DType::Q8_1: return quantize_q8_1_activations(src, dst, n);
    case DType::Q8_K: return quantize_q8_k_activations(src, dst, n);
    case DType::Q2_K: return quant_detail::quantize_q2_k(src, static_cast<BlockQ2_K*>(dst), nb, importance);
    case DType::Q3_K: return quant_detail::quantize_q3_k(src, static_cast<BlockQ3_K*>(dst), nb, importance);
    case DType::Q4_K: return quant_detail::quantize_q4_k(src, static_cast<BlockQ4_K*>(dst), nb, importance);
    case DType::Q5_K: return quant_detail::quantize_q5_k(src, static_cast<BlockQ5_K*>(dst), nb, importance);
    case DType::Q6_K: return quant_detail::quantize_q6_k(src, static_cast<BlockQ6_K*>(dst), nb, importance);
    default: return;  // unreachable: rejected by can_quantize above
    }
}

}  // namespace dsm
