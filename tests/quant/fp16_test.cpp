// fp16 / bf16 conversions: exhaustive round trips, an independent decoding
// formula, and round-to-nearest-even at every tie.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>

#include "core/fp16.hpp"
#include "quant_test_util.hpp"

namespace dsm {
namespace {

using test::fp16_value;

bool fp16_is_nan(uint16_t h) { return (h & 0x7c00) == 0x7c00 && (h & 0x03ff) != 0; }

TEST(Fp16, DecodesEveryPatternLikeTheFormula) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = fp16_to_f32(uint16_t(h));
        const double want = fp16_value(uint16_t(h));
        if (std::isnan(want)) {
            EXPECT_TRUE(std::isnan(f)) << h;
        } else {
            ASSERT_EQ(double(f), want) << "pattern " << h;
            EXPECT_EQ(std::signbit(f), bool(h & 0x8000)) << h;  // also for -0
        }
    }
}

TEST(Fp16, RoundTripsEveryPattern) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const uint16_t back = f32_to_fp16(fp16_to_f32(uint16_t(h)));
        if (fp16_is_nan(uint16_t(h))) {
            EXPECT_TRUE(fp16_is_nan(back)) << h;
            EXPECT_EQ(back & 0x8000, h & 0x8000) << h;
        } else {
            ASSERT_EQ(back, h) << "pattern " << h;
        }
    }
}

// For every pair of neighbouring finite fp16 values, the float exactly halfway
// between them goes to the one with an even mantissa; just above / below the
// halfway point goes up / down.
TEST(Fp16, RoundsTiesToEvenAndOthersToNearest) {
    for (uint16_t h = 0; h < 0x7bff; ++h) {  // positive finite values below the largest
        for (int sign = 0; sign < 2; ++sign) {
            const uint16_t lo = uint16_t(h | (sign << 15)), hi = uint16_t((h + 1) | (sign << 15));
            const double a = fp16_value(lo), b = fp16_value(hi);
            const float mid = float((a + b) / 2);  // exact: 12 significant bits
            ASSERT_EQ(double(mid), (a + b) / 2);
            const uint16_t even = (lo & 1) ? hi : lo;
            ASSERT_EQ(f32_to_fp16(mid), even) << "tie between " << lo << " and " << hi;
            const float above = std::nextafter(mid, sign ? -INFINITY : INFINITY);
            const float below = std::nextafter(mid, sign ? INFINITY : -INFINITY);
            ASSERT_EQ(f32_to_fp16(above), hi) << lo;
            ASSERT_EQ(f32_to_fp16(below), lo) << lo;
        }
    }
}

TEST(Fp16, OverflowUnderflowAndSpecials) {
    EXPECT_EQ(f32_to_fp16(65504.0f), 0x7bff);
    EXPECT_EQ(f32_to_fp16(65519.996f), 0x7bff);  // below the tie with 65536
    EXPECT_EQ(f32_to_fp16(65520.0f), 0x7c00);    // tie -> even (infinity)
    EXPECT_EQ(f32_to_fp16(-1e10f), 0xfc00);
    EXPECT_EQ(f32_to_fp16(INFINITY), 0x7c00);
    EXPECT_EQ(f32_to_fp16(-INFINITY), 0xfc00);
    EXPECT_TRUE(fp16_is_nan(f32_to_fp16(std::numeric_limits<float>::quiet_NaN())));
    EXPECT_TRUE(fp16_is_nan(f32_to_fp16(-std::numeric_limits<float>::signaling_NaN())));
    EXPECT_EQ(f32_to_fp16(std::ldexp(1.0f, -25)), 0x0000);  // tie between 0 and the smallest subnormal
    EXPECT_EQ(f32_to_fp16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)), 0x0001);
    EXPECT_EQ(f32_to_fp16(-std::ldexp(1.0f, -26)), 0x8000);
    EXPECT_EQ(f32_to_fp16(1e-30f), 0x0000);
    EXPECT_EQ(f32_to_fp16(-0.0f), 0x8000);
}

TEST(Bf16, RoundTripsEveryPattern) {
    for (uint32_t h = 0; h < 65536; ++h) {
        const float f = bf16_to_f32(uint16_t(h));
        EXPECT_EQ(f32_to_bits(f), h << 16);
        const uint16_t back = f32_to_bf16(f);
        if (std::isnan(f))
            EXPECT_TRUE(std::isnan(bf16_to_f32(back))) << h;
        else
            ASSERT_EQ(back, h) << h;
    }
}

TEST(Bf16, RoundsTiesToEven) {
    // The float halfway between two neighbouring bf16 values has low half 0x8000.
    for (uint32_t h = 0; h < 0x7f7f; h += 7) {
        const uint32_t mid = (h << 16) | 0x8000;
        const uint16_t even = (h & 1) ? uint16_t(h + 1) : uint16_t(h);
        ASSERT_EQ(f32_to_bf16(bits_to_f32(mid)), even) << h;
        ASSERT_EQ(f32_to_bf16(bits_to_f32(mid + 1)), uint16_t(h + 1)) << h;
        ASSERT_EQ(f32_to_bf16(bits_to_f32(mid - 1)), uint16_t(h)) << h;
        ASSERT_EQ(f32_to_bf16(bits_to_f32(mid | 0x80000000u)), uint16_t(even | 0x8000)) << h;
    }
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
    EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(bits_to_f32(0x7f800001u)))));  // payload only in low bits
}

}  // namespace
}  // namespace dsm
