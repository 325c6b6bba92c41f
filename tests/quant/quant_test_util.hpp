// Helpers shared by the quant tests: random data and the list of types.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "core/dtype.hpp"
#include "core/fp16.hpp"

namespace dsm::test {

// Weight types with a quantizer that searches for scales (importance applies).
inline const std::vector<DType>& searched_types() {
    static const std::vector<DType> t = {DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q2_K,
                                         DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K};
    return t;
}

// Every type with a dot-product kernel.
inline const std::vector<DType>& weight_types() {
    static const std::vector<DType> t = {DType::F32,  DType::F16,  DType::BF16, DType::Q4_0, DType::Q4_1,
                                         DType::Q5_0, DType::Q5_1, DType::Q8_0, DType::Q2_K, DType::Q3_K,
                                         DType::Q4_K, DType::Q5_K, DType::Q6_K};
    return t;
}

inline std::vector<float> gaussian(size_t n, uint32_t seed, float sigma = 1.0f) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, sigma);
    std::vector<float> v(n);
    for (float& x : v) x = dist(rng);
    return v;
}

inline std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::vector<uint8_t> v(n);
    for (uint8_t& b : v) b = uint8_t(rng() & 0xff);
    return v;
}

// A random fp16 of magnitude in [2^-10, 2) and random sign: a sane block scale.
inline uint16_t random_scale_fp16(std::mt19937& rng, bool allow_negative = true) {
    const float mag = std::ldexp(1.0f + float(rng() % 1024) / 1024.0f, int(rng() % 11) - 10);
    const bool neg = allow_negative && (rng() & 1);
    return f32_to_fp16(neg ? -mag : mag);
}

// Little-endian bit field of a byte array: nbits bits starting at bit `offset`.
inline uint32_t bits(const uint8_t* p, int offset, int nbits) {
    uint32_t v = 0;
    for (int i = 0; i < nbits; ++i) {
        const int b = offset + i;
        v |= uint32_t((p[b / 8] >> (b % 8)) & 1) << i;
    }
    return v;
}

// IEEE binary16 value from its bit fields, in double (independent of core/fp16.hpp).
inline double fp16_value(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    double v;
    if (exp == 0)
        v = std::ldexp(double(mant), -24);
    else if (exp == 31)
        v = mant ? NAN : INFINITY;
    else
        v = std::ldexp(1.0 + mant / 1024.0, exp - 15);
    return sign ? -v : v;
}

// bfloat16 value from its bit fields, in double.
inline double bf16_value(uint16_t h) {
    const int sign = h >> 15, exp = (h >> 7) & 0xff, mant = h & 0x7f;
    double v;
    if (exp == 0)
        v = std::ldexp(double(mant), -133);
    else if (exp == 255)
        v = mant ? NAN : INFINITY;
    else
        v = std::ldexp(1.0 + mant / 128.0, exp - 127);
    return sign ? -v : v;
}

inline double read_fp16(const uint8_t* p) {
    uint16_t h;
    std::memcpy(&h, p, 2);
    return fp16_value(h);
}

inline void write_fp16(uint8_t* p, uint16_t h) { std::memcpy(p, &h, 2); }

}  // namespace dsm::test
