// Helpers for the kernel tests: random operands of every type (realistic ones from
// the quantizers, and raw random bits that reach every level and scale pattern), and
// the summation-order tolerance between two kernels.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/fp16.hpp"
#include "kernels/kernels.hpp"
#include "quant/blocks.hpp"
#include "quant/quant.hpp"

namespace dsm::test {

inline const std::vector<DType>& dot_weight_types() {
    static const std::vector<DType> t = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                                         DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                                         DType::Q4_K, DType::Q5_K, DType::Q6_K};
    return t;
}

inline std::string type_label(DType t) { return std::string(dtype_name(t)); }

inline std::vector<float> normal(size_t n, std::mt19937& rng, float sigma) {
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

// A random finite fp16 of magnitude in [2^-12, 2) with a random sign.
inline uint16_t random_fp16_scale(std::mt19937& rng) {
    const float mag = std::ldexp(1.0f + float(rng() % 1024) / 1024.0f, int(rng() % 13) - 12);
    return f32_to_fp16((rng() & 1) ? -mag : mag);
}

// Byte offsets of a block's fp16 fields: multiplicative scales (d) and additive
// offsets (dmin / m). Everything else in a block is free bits.
struct ScaleFields {
    std::vector<int> scales, offsets;
};

inline ScaleFields scale_fields(DType t) {
    switch (t) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: return {{0}, {}};
    case DType::Q4_1: case DType::Q5_1: return {{0}, {2}};
    case DType::Q2_K: return {{80}, {82}};
    case DType::Q3_K: return {{108}, {}};
    case DType::Q4_K: case DType::Q5_K: return {{0}, {2}};
    case DType::Q6_K: return {{208}, {}};
    default: return {};
    }
}

inline void put_fp16(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

// A weight row of n elements. raw_bits: random level/scale bits with sane fp16
// scales; otherwise the type's quantizer applied to normal data.
inline std::vector<uint8_t> random_weights(DType t, int64_t n, std::mt19937& rng, bool raw_bits) {
    std::vector<uint8_t> w(row_bytes(t, n));
    const DTypeInfo& ti = info(t);
    if (!ti.quantized || !raw_bits) {
        std::vector<float> v = normal(size_t(n), rng, 0.05f);
        if (!ti.quantized && raw_bits)  // spread the exponents, subnormal halves included
            for (float& x : v) x = std::ldexp(x, int(rng() % 36) - 20);
        quantize_row(t, v.data(), w.data(), n);
        return w;
    }
    for (uint8_t& b : w) b = uint8_t(rng());
    const ScaleFields f = scale_fields(t);
    for (size_t b = 0; b < w.size() / ti.block_bytes; ++b) {
        for (int off : f.scales) put_fp16(w.data() + b * ti.block_bytes + off, random_fp16_scale(rng));
        for (int off : f.offsets) put_fp16(w.data() + b * ti.block_bytes + off, random_fp16_scale(rng));
    }
    return w;
}

// An activation row in type a. raw_bits: random quants (all of -128..127) with sane
// scales and consistent sums; otherwise the scalar conversion of normal data.
inline std::vector<uint8_t> random_activations(DType a, int64_t n, std::mt19937& rng, bool raw_bits, float sigma = 1) {
    std::vector<uint8_t> x(row_bytes(a, n));
    if (!raw_bits || a == DType::F32 || a == DType::F16 || a == DType::BF16) {
        const std::vector<float> v = normal(size_t(n), rng, sigma);
        kernels::scalar_table().from_float[int(a)](v.data(), x.data(), n);
        return x;
    }
    if (a == DType::Q8_0 || a == DType::Q8_1) {
        auto fill = [&](uint16_t& d, int8_t* qs) {
            d = random_fp16_scale(rng);
            int sum = 0;
            for (int j = 0; j < 32; ++j) sum += qs[j] = int8_t(rng());
            return sum;
        };
        for (int64_t b = 0; b < n / 32; ++b) {
            if (a == DType::Q8_0) {
                auto& blk = reinterpret_cast<BlockQ8_0*>(x.data())[b];
                fill(blk.d, blk.qs);
            } else {
                auto& blk = reinterpret_cast<BlockQ8_1*>(x.data())[b];
                const int sum = fill(blk.d, blk.qs);
                blk.s = f32_to_fp16(fp16_to_f32(blk.d) * float(sum));
            }
        }
        return x;
    }
    for (int64_t b = 0; b < n / kQK_K; ++b) {  // Q8_K
        auto& blk = reinterpret_cast<BlockQ8_K*>(x.data())[b];
        blk.d = fp16_to_f32(random_fp16_scale(rng));
        for (int j = 0; j < kQK_K; ++j) blk.qs[j] = int8_t(rng());
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += blk.qs[16 * g + j];
            blk.bsums[g] = int16_t(sum);
        }
    }
    return x;
}

// Sum over elements of |w_i x_i| with the weight split into its scaled part and its
// offset part (|d q| and |m| counted separately, since kernels sum them separately),
// plus |m s| per block for Q8_1 activations: the magnitude float rounding errors of
// any summation order are relative to.
inline double magnitude(DType t, const uint8_t* w, const uint8_t* x, int64_t n) {
    const DType a = kernels::activation_type(t);
    std::vector<float> xf(static_cast<size_t>(n)), part(static_cast<size_t>(n));
    dequantize_row(a, x, xf.data(), n);
    const ScaleFields f = scale_fields(t);
    const DTypeInfo& ti = info(t);
    double mag = 0;
    auto add_variant = [&](const std::vector<int>& zero_fields) {
        std::vector<uint8_t> v(w, w + row_bytes(t, n));
        for (size_t b = 0; b < v.size() / ti.block_bytes; ++b)
            for (int off : zero_fields) put_fp16(v.data() + b * ti.block_bytes + off, 0);
        dequantize_row(t, v.data(), part.data(), n);
        for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(part[size_t(i)]) * double(xf[size_t(i)]));
    };
    if (f.offsets.empty()) {
        add_variant({});
    } else {
        add_variant(f.offsets);  // scaled parts only
        add_variant(f.scales);   // offset parts only
    }
    if (a == DType::Q8_1) {
        for (int64_t b = 0; b < n / 32; ++b) {
            uint16_t m, s;
            std::memcpy(&m, w + b * ti.block_bytes + f.offsets[0], 2);
            std::memcpy(&s, x + b * sizeof(BlockQ8_1) + 2, 2);
            mag += std::fabs(double(fp16_to_f32(m)) * double(fp16_to_f32(s)));
        }
    }
    return mag;
}

// Largest difference two correct kernels may show: each rounds the products and
// partial sums of its own order, at most (about) 2 per block plus a reduction tree,
// each off by 2^-24 of the magnitude. Plain float types sum in double and round once.
inline double order_tolerance(DType t, double mag, int64_t n) {
    const int64_t bs = info(t).block_size;
    if (bs == 1) return std::ldexp(mag, -22) + 1e-30;
    return double(3 * (n / bs) + 16) * std::ldexp(mag, -24) + 1e-30;
}

// The same for the products of tiles (gemm), which may also sum plain float types in
// float: 16 lanes of n / 16 terms each (or n / 32 pairs, two roundings a pair), then a
// reduction tree.
inline double gemm_tolerance(DType t, double mag, int64_t n) {
    if (info(t).block_size == 1) return double(n / 16 + 8) * std::ldexp(mag, -24) + 1e-30;
    return order_tolerance(t, mag, n);
}

}  // namespace dsm::test
