// dequantize_row against an independent decoder written from the GGUF block
// format descriptions: every element is read with a generic little-endian bit
// extractor at the bit offset the format gives it, and scaled in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "quant/blocks.hpp"
#include "quant/quant.hpp"
#include "quant_test_util.hpp"

namespace dsm {
namespace {

using test::bits;
using test::read_fp16;

// Reference value of element e of one block, plus the magnitude of the terms it
// is made of (the float result may differ by rounding relative to that).
struct RefValue {
    double value, magnitude;
};

RefValue affine(double d, double q, double m) { return {d * q + m, std::fabs(d * q) + std::fabs(m)}; }

// 6-bit scale (which = 0) or min (which = 1) of sub-block j of Q4_K / Q5_K.
int k4_field(const uint8_t* s, int j, int which) {
    if (j < 4) return int(bits(s, 8 * (j + 4 * which), 6));
    const int low = int(bits(s, 8 * (j + 4) + 4 * which, 4));
    const int high = int(bits(s, 8 * (j - 4 + 4 * which) + 6, 2));
    return low | (high << 4);
}

RefValue reference(DType t, const uint8_t* b, int e) {
    switch (t) {
    case DType::Q4_0: {  // d | 16 bytes: element e<16 low nibble of byte e, else high nibble of byte e-16
        const int q = int(bits(b + 2, (e % 16) * 8 + (e / 16) * 4, 4));
        return affine(read_fp16(b), q - 8, 0);
    }
    case DType::Q4_1: {  // d, m | nibbles as Q4_0
        const int q = int(bits(b + 4, (e % 16) * 8 + (e / 16) * 4, 4));
        return affine(read_fp16(b), q, read_fp16(b + 2));
    }
    case DType::Q5_0: {  // d | 32-bit high-bit mask (bit e) | nibbles
        const int q = int(bits(b + 6, (e % 16) * 8 + (e / 16) * 4, 4) | (bits(b + 2, e, 1) << 4));
        return affine(read_fp16(b), q - 16, 0);
    }
    case DType::Q5_1: {
        const int q = int(bits(b + 8, (e % 16) * 8 + (e / 16) * 4, 4) | (bits(b + 4, e, 1) << 4));
        return affine(read_fp16(b), q, read_fp16(b + 2));
    }
    case DType::Q8_0: return affine(read_fp16(b), int8_t(b[2 + e]), 0);
    case DType::Q8_1: return affine(read_fp16(b), int8_t(b[4 + e]), 0);
    case DType::Q2_K: {  // scales[16] | qs[64] | d | dmin; 2-bit field: byte 32*(e/128) + e%32, pair (e%128)/32
        const uint8_t sc = b[e / 16];
        const int q = int(bits(b + 16, (32 * (e / 128) + e % 32) * 8 + 2 * ((e % 128) / 32), 2));
        return affine(read_fp16(b + 80) * (sc & 15), q, -double(read_fp16(b + 82)) * (sc >> 4));
    }
    case DType::Q3_K: {  // hmask[32] | qs[64] | scales[12] | d
        const int low = int(bits(b + 32, (32 * (e / 128) + e % 32) * 8 + 2 * ((e % 128) / 32), 2));
        const int high = int(bits(b, 8 * (e % 32) + e / 32, 1));
        const int j = e / 16;
        const int scale = int(bits(b + 96, 8 * (j % 8) + 4 * (j / 8), 4) | (bits(b + 96, 64 + 8 * (j % 4) + 2 * (j / 4), 2) << 4)) - 32;
        return affine(read_fp16(b + 108) * scale, low - (high ? 0 : 4), 0);
    }
    case DType::Q4_K: {  // d | dmin | scales[12] | qs[128]: byte 32*(e/64) + e%32, nibble (e/32)%2
        const int j = e / 32;
        const int q = int(bits(b + 16, (32 * (e / 64) + e % 32) * 8 + 4 * (j % 2), 4));
        return affine(read_fp16(b) * k4_field(b + 4, j, 0), q, -double(read_fp16(b + 2)) * k4_field(b + 4, j, 1));
    }
    case DType::Q5_K: {  // d | dmin | scales[12] | qh[32] (bit e/32 of byte e%32) | qs[128]
        const int j = e / 32;
        const int q = int(bits(b + 48, (32 * (e / 64) + e % 32) * 8 + 4 * (j % 2), 4) | (bits(b + 16, 8 * (e % 32) + e / 32, 1) << 4));
        return affine(read_fp16(b) * k4_field(b + 4, j, 0), q, -double(read_fp16(b + 2)) * k4_field(b + 4, j, 1));
    }
    case DType::Q6_K: {  // ql[128] | qh[64] | scales[16] (int8) | d
        const int half = e / 128, k = (e % 128) / 32, l = e % 32;
        const int low = int(bits(b, (64 * half + 32 * (k % 2) + l) * 8 + 4 * (k / 2), 4));
        const int high = int(bits(b + 128, (32 * half + l) * 8 + 2 * k, 2));
        return affine(read_fp16(b + 208) * int8_t(b[192 + e / 16]), (low | (high << 4)) - 32, 0);
    }
    case DType::Q8_K: {  // float d | qs[256] | bsums
        float d;
        std::memcpy(&d, b, 4);
        return affine(d, int8_t(b[4 + e]), 0);
    }
    case DType::F16: return {read_fp16(b + 2 * e), 0};
    case DType::BF16: {
        uint16_t h;
        std::memcpy(&h, b + 2 * e, 2);
        return {test::bf16_value(h), 0};
    }
    case DType::F32: {
        float f;
        std::memcpy(&f, b + 4 * e, 4);
        return {f, 0};
    }
    default: return {0, 0};
    }
}

// Byte offsets of the fp16 scale fields of a block (randomised to sane values).
std::vector<int> scale_offsets(DType t) {
    switch (t) {
    case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: return {0};
    case DType::Q4_1: case DType::Q5_1: case DType::Q8_1: return {0, 2};
    case DType::Q2_K: return {80, 82};
    case DType::Q3_K: return {108};
    case DType::Q4_K: case DType::Q5_K: return {0, 2};
    case DType::Q6_K: return {208};
    default: return {};
    }
}

// Random blocks of type t with random bytes and sane scales.
std::vector<uint8_t> random_blocks(DType t, int64_t nb, uint32_t seed) {
    const DTypeInfo& ti = info(t);
    std::vector<uint8_t> data = test::random_bytes(size_t(nb) * ti.block_bytes, seed);
    std::mt19937 rng(seed ^ 0x9e3779b9u);
    for (int64_t i = 0; i < nb; ++i) {
        uint8_t* b = data.data() + i * ti.block_bytes;
        for (int off : scale_offsets(t)) test::write_fp16(b + off, test::random_scale_fp16(rng));
        if (t == DType::Q8_K) {
            const float d = fp16_to_f32(test::random_scale_fp16(rng)) * 1e-2f;
            std::memcpy(b, &d, 4);
        }
    }
    return data;
}

class DequantizeVsFormat : public ::testing::TestWithParam<DType> {};

TEST_P(DequantizeVsFormat, MatchesIndependentDecoder) {
    const DType t = GetParam();
    const DTypeInfo& ti = info(t);
    const int64_t nb = ti.block_size == 1 ? 4096 : 4096 / ti.block_size * 8;
    const int64_t n = nb * ti.block_size;
    std::vector<uint8_t> data = random_blocks(t, nb, 1234 + uint32_t(t));
    if (t == DType::F32) {  // random finite floats
        const std::vector<float> f = test::gaussian(size_t(n), 7);
        std::memcpy(data.data(), f.data(), data.size());
    }
    std::vector<float> out(size_t(n), NAN);
    dequantize_row(t, data.data(), out.data(), n);
    int64_t checked = 0;
    for (int64_t i = 0; i < n; ++i) {
        const int64_t blk = i / ti.block_size;
        const int e = int(i % ti.block_size);
        const RefValue r = ti.block_size == 1 ? reference(t, data.data(), int(i))
                                              : reference(t, data.data() + blk * ti.block_bytes, e);
        if (std::isnan(r.value)) {  // random F16 / BF16 bytes include NaN and infinity
            EXPECT_TRUE(std::isnan(out[size_t(i)])) << i;
            continue;
        }
        if (std::isinf(r.value)) {
            EXPECT_EQ(double(out[size_t(i)]), r.value) << i;
            continue;
        }
        // One or two float roundings of terms no larger than `magnitude`.
        const double tol = 2.5 * std::ldexp(r.magnitude, -24);
        ASSERT_LE(std::fabs(double(out[size_t(i)]) - r.value), tol)
            << dtype_name(t) << " element " << i << " (block " << blk << ", index " << e << ")";
        ++checked;
    }
    EXPECT_GT(checked, n * 9 / 10);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, DequantizeVsFormat,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                                           DType::Q5_1, DType::Q8_0, DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                                           DType::Q5_K, DType::Q6_K, DType::Q8_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Dequantize, RejectsBadArguments) {
    float out[64];
    uint8_t in[512] = {};
    EXPECT_THROW(dequantize_row(DType::Q4_0, in, out, 31), Error);
    EXPECT_THROW(dequantize_row(DType::Q4_K, in, out, 64), Error);
    EXPECT_THROW(dequantize_row(DType::Q4_0, in, out, -32), Error);
    EXPECT_THROW(dequantize_row(DType::I32, in, out, 4), Error);
    EXPECT_FALSE(can_dequantize(DType::I8));
    EXPECT_FALSE(can_dequantize(DType::F64));
    EXPECT_TRUE(can_dequantize(DType::Q6_K));
    dequantize_row(DType::Q4_0, in, out, 0);  // empty row is fine
}

}  // namespace
}  // namespace dsm
