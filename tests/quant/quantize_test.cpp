// Quantizers: round-trip error bounds on Gaussian data, the effect of importance
// weights, robustness, and the exact rounding rules of the activation types.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <random>
#include <vector>

#include "core/error.hpp"
#include "quant/blocks.hpp"
#include "quant/quant.hpp"
#include "quant_test_util.hpp"

namespace dsm {
namespace {

constexpr int64_t kRow = 2048;  // 64 blocks of 32, 8 super-blocks of 256
constexpr int kRows = 32;

struct Errors {
    double rel_rmse;      // sqrt(sum (x - x')^2 / sum x^2)
    double weighted_sse;  // sum imp * (x - x')^2
};

// Quantizes kRows Gaussian rows with the given importance (nullable) and measures
// the round-trip error; `weights` (nullable) weights the reported weighted error.
Errors round_trip(DType t, const float* importance, const float* weights, uint32_t seed = 11) {
    const std::vector<float> x = test::gaussian(size_t(kRow) * kRows, seed);
    std::vector<uint8_t> q(row_bytes(t, kRow));
    std::vector<float> y(kRow);
    double se = 0, sx = 0, wse = 0;
    for (int r = 0; r < kRows; ++r) {
        const float* xr = x.data() + r * kRow;
        quantize_row(t, xr, q.data(), kRow, importance);
        dequantize_row(t, q.data(), y.data(), kRow);
        for (int64_t i = 0; i < kRow; ++i) {
            const double d = double(y[size_t(i)]) - xr[i];
            se += d * d;
            sx += double(xr[i]) * xr[i];
            wse += (weights ? weights[i] : 1.0) * d * d;
        }
    }
    return {std::sqrt(se / sx), wse};
}

// Upper bounds of the relative RMS error on N(0,1) data. A b-bit uniform quantizer
// with step s has RMS error s/sqrt(12); s follows from how each type spans a block:
//  Q8_0: s = E[max|x| of 32] / 127 ~ 2.35/127 -> 0.53%.  Q8_K: max of 256 ~ 2.9 -> 0.66%.
//  Q4_0: s = max/8 ~ 0.29 -> 8.5%.  Q5_0: s = max/16 -> 4.3%.
//  Q4_1 / Q5_1: s = range/15, range/31 of 32 values (~4.1) -> 7.9% / 3.8%.
//  Q2_K..Q6_K: 16- or 32-value sub-blocks with fitted scales and 2..6 bits; the
//  search (and the 6/4-bit quantization of the sub-block scales) gives about
//  29.6%, 15.1%, 7.1%, 3.6%, 1.8%, measured here and also by llama.cpp's quantizers
//  (our bytes equal llama-quantize's, see gguf_quant_test.cpp).
//  F16: relative rounding error <= 2^-11, RMS about 2^-11/sqrt(3) ~ 0.028%; BF16: 2^-8/sqrt(3) ~ 0.23%.
// The bounds leave about 10% headroom over the measured values.
const std::map<DType, double>& error_bounds() {
    static const std::map<DType, double> b = {
        {DType::Q8_0, 0.0060}, {DType::Q8_1, 0.0060}, {DType::Q8_K, 0.0077}, {DType::Q4_0, 0.095},
        {DType::Q4_1, 0.086},  {DType::Q5_0, 0.047},  {DType::Q5_1, 0.042},  {DType::Q2_K, 0.325},
        {DType::Q3_K, 0.166},  {DType::Q4_K, 0.079},  {DType::Q5_K, 0.040},  {DType::Q6_K, 0.0196},
        {DType::F16, 0.00030}, {DType::BF16, 0.0025}, {DType::F32, 0.0},
    };
    return b;
}

class QuantizeError : public ::testing::TestWithParam<DType> {};

TEST_P(QuantizeError, RoundTripWithinBound) {
    const DType t = GetParam();
    const double bound = error_bounds().at(t);
    const Errors e = round_trip(t, nullptr, nullptr);
    EXPECT_LE(e.rel_rmse, bound) << dtype_name(t);
    // Sanity in the other direction: a type cannot be much better than its bit budget allows.
    if (bound > 0) {
        EXPECT_GE(e.rel_rmse, bound * 0.5) << dtype_name(t);
    }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, QuantizeError,
                         ::testing::Values(DType::F32, DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0,
                                           DType::Q5_1, DType::Q8_0, DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K,
                                           DType::Q5_K, DType::Q6_K, DType::Q8_K),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(QuantizeError, MoreBitsMeanSmallerError) {
    auto err = [](DType t) { return round_trip(t, nullptr, nullptr).rel_rmse; };
    const double q2k = err(DType::Q2_K), q3k = err(DType::Q3_K), q4k = err(DType::Q4_K), q5k = err(DType::Q5_K),
                 q6k = err(DType::Q6_K), q8 = err(DType::Q8_0), q4_0 = err(DType::Q4_0), q4_1 = err(DType::Q4_1),
                 q5_0 = err(DType::Q5_0), q5_1 = err(DType::Q5_1);
    EXPECT_LT(q3k, q2k);
    EXPECT_LT(q4k, q3k);
    EXPECT_LT(q5k, q4k);
    EXPECT_LT(q6k, q5k);
    EXPECT_LT(q8, q6k);
    EXPECT_LT(q4k, q4_0);  // fitted scales and mins beat the max-based 4-bit types
    EXPECT_LT(q4k, q4_1);
    EXPECT_LT(q5k, q5_0);
    EXPECT_LT(q4_1, q4_0);  // an offset beats a symmetric range
    EXPECT_LT(q5_1, q5_0);
    EXPECT_LT(q5_0, q4_1);
}

// Importance with a wide spread (log-normal, sigma 1.5): the weighted error of the
// importance-aware quantization must be clearly lower than without it.
TEST(QuantizeImportance, ReducesWeightedError) {
    std::mt19937 rng(5);
    std::lognormal_distribution<float> dist(0.0f, 1.5f);
    std::vector<float> imp(kRow);
    for (float& w : imp) w = dist(rng);
    for (DType t : test::searched_types()) {
        const double without = round_trip(t, nullptr, imp.data()).weighted_sse;
        const double with = round_trip(t, imp.data(), imp.data()).weighted_sse;
        EXPECT_LT(with, 0.8 * without) << dtype_name(t) << ": " << with << " vs " << without;
    }
}

// Uniform importance turns on the error-minimising search, which must beat the
// reference (max-based / default-weighted) rounding in plain RMS error.
TEST(QuantizeImportance, UniformImportanceBeatsReferenceRounding) {
    const std::vector<float> ones(kRow, 1.0f);
    for (DType t : test::searched_types()) {
        const double ref = round_trip(t, nullptr, nullptr).rel_rmse;
        const double searched = round_trip(t, ones.data(), nullptr).rel_rmse;
        EXPECT_LT(searched, ref) << dtype_name(t);
    }
}

// Blocks whose importance is all zero / negative / NaN use the default weighting;
// other blocks are unaffected by them.
TEST(QuantizeImportance, UnusableImportanceFallsBackPerBlock) {
    const std::vector<float> x = test::gaussian(kRow, 3);
    std::vector<float> bad(kRow, 0.0f);
    for (int64_t i = 0; i < kRow; i += 3) bad[size_t(i)] = -1.0f;
    bad[7] = std::numeric_limits<float>::quiet_NaN();
    bad[8] = -std::numeric_limits<float>::infinity();
    for (DType t : test::searched_types()) {
        const size_t bytes = row_bytes(t, kRow);
        std::vector<uint8_t> plain(bytes), weighted(bytes);
        quantize_row(t, x.data(), plain.data(), kRow);
        quantize_row(t, x.data(), weighted.data(), kRow, bad.data());
        EXPECT_EQ(plain, weighted) << dtype_name(t);
    }
}

TEST(Quantize, ZeroAndConstantRows) {
    std::vector<float> zeros(kRow, 0.0f), consts(kRow, -0.75f), y(kRow);
    for (DType t : {DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                    DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
        std::vector<uint8_t> q(row_bytes(t, kRow));
        quantize_row(t, zeros.data(), q.data(), kRow);
        dequantize_row(t, q.data(), y.data(), kRow);
        for (float v : y) ASSERT_EQ(v, 0.0f) << dtype_name(t);
        quantize_row(t, consts.data(), q.data(), kRow, consts.data());  // negative importance too
        dequantize_row(t, q.data(), y.data(), kRow);
        for (float v : y) ASSERT_NEAR(v, -0.75f, 0.75 * 0.07) << dtype_name(t);
    }
}

TEST(Quantize, SurvivesNonFiniteAndExtremeInput) {
    std::vector<float> x = test::gaussian(kRow, 9);
    x[5] = std::numeric_limits<float>::quiet_NaN();
    x[300] = std::numeric_limits<float>::infinity();
    x[600] = -std::numeric_limits<float>::infinity();
    x[900] = 3e38f;
    x[1200] = 1e-40f;  // subnormal
    std::vector<float> y(kRow);
    for (DType t : {DType::F16, DType::BF16, DType::Q4_0, DType::Q4_1, DType::Q5_0, DType::Q5_1, DType::Q8_0,
                    DType::Q8_1, DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K, DType::Q8_K}) {
        std::vector<uint8_t> q(row_bytes(t, kRow));
        quantize_row(t, x.data(), q.data(), kRow, x.data());  // must not crash; values are meaningless
        dequantize_row(t, q.data(), y.data(), kRow);
        // Without importance blocks are independent: the last 512 values, far from
        // the bad ones, are still quantized normally.
        quantize_row(t, x.data(), q.data(), kRow);
        dequantize_row(t, q.data(), y.data(), kRow);
        for (int64_t i = 1536; i < kRow; ++i) ASSERT_NEAR(y[size_t(i)], x[size_t(i)], 1.5) << dtype_name(t) << " " << i;
    }
}

TEST(Quantize, RejectsBadArguments) {
    std::vector<float> x(512, 1.0f);
    std::vector<uint8_t> q(4096);
    EXPECT_THROW(quantize_row(DType::Q4_K, x.data(), q.data(), 128), Error);
    EXPECT_THROW(quantize_row(DType::Q8_0, x.data(), q.data(), 33), Error);
    EXPECT_THROW(quantize_row(DType::Q8_0, x.data(), q.data(), -32), Error);
    EXPECT_THROW(quantize_row(DType::I16, x.data(), q.data(), 32), Error);
    EXPECT_FALSE(can_quantize(DType::I32));
    EXPECT_FALSE(can_quantize(DType::F64));
    EXPECT_TRUE(can_quantize(DType::Q2_K));
    quantize_row(DType::Q4_0, x.data(), q.data(), 0);
}

// ---------------------------------------------------------------- activations

// llama.cpp's x86 rule for Q8_0 activations, written from its description.
BlockQ8_0 spec_q8_0(const float* x) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    BlockQ8_0 b;
    b.d = f32_to_fp16(amax / 127.f);
    const float id = amax != 0 ? 127.f / amax : 0.f;
    for (int j = 0; j < 32; ++j) b.qs[j] = int8_t(std::nearbyint(x[j] * id));  // default mode: ties to even
    return b;
}

TEST(ActivationQ8_0, RoundsHalfToEven) {
    // amax = 127 makes the multiplier exactly 1, so q = rint(x).
    float x[32] = {127.0f, 2.5f, 3.5f, -2.5f, -3.5f, 0.5f, -0.5f, 1.5f, -1.5f, 126.5f, -126.5f, 2.4999998f, 2.5000002f};
    BlockQ8_0 b;
    quantize_row(DType::Q8_0, x, &b, 32);
    const int want[13] = {127, 2, 4, -2, -4, 0, 0, 2, -2, 126, -126, 2, 3};
    for (int j = 0; j < 13; ++j) EXPECT_EQ(b.qs[j], want[j]) << "x = " << x[j];
    EXPECT_EQ(b.d, f32_to_fp16(1.0f));
    // amax = 254: multiplier 0.5.
    float y[32] = {-254.0f, 5.0f, 7.0f, -5.0f, 1.0f};
    quantize_row(DType::Q8_0, y, &b, 32);
    EXPECT_EQ(b.qs[0], -127);
    EXPECT_EQ(b.qs[1], 2);
    EXPECT_EQ(b.qs[2], 4);
    EXPECT_EQ(b.qs[3], -2);
    EXPECT_EQ(b.qs[4], 0);
    EXPECT_EQ(b.d, f32_to_fp16(2.0f));
}

TEST(ActivationQ8_0, MatchesSpecBitForBit) {
    std::mt19937 rng(77);
    std::uniform_real_distribution<float> u(-1.0f, 1.0f);
    // Find a value where 127/amax and 1/(amax/127) round differently: the rule
    // must use the former (llama.cpp's SIMD code does).
    bool found = false;
    for (int tries = 0; tries < 200000 && !found; ++tries) {
        float x[32];
        for (float& v : x) v = u(rng) * 10;
        float amax = 0;
        for (float v : x) amax = std::max(amax, std::fabs(v));
        const float via_d = 1.0f / (amax / 127.f);
        for (int j = 0; j < 32 && !found; ++j) {
            if (std::nearbyint(x[j] * via_d) != std::nearbyint(x[j] * (127.f / amax))) {
                BlockQ8_0 got;
                quantize_row(DType::Q8_0, x, &got, 32);
                const BlockQ8_0 want = spec_q8_0(x);
                EXPECT_EQ(std::memcmp(&got, &want, sizeof got), 0);
                found = true;
            }
        }
    }
    EXPECT_TRUE(found) << "no distinguishing case found";
    // Random rows, including values scaled onto exact .5 multiples.
    std::vector<float> x = test::gaussian(32 * 4096, 21);
    for (size_t i = 0; i < x.size(); i += 7) x[i] = std::round(x[i] * 8) / 8;
    std::vector<BlockQ8_0> got(4096);
    quantize_row(DType::Q8_0, x.data(), got.data(), int64_t(x.size()));
    for (size_t b = 0; b < got.size(); ++b) {
        const BlockQ8_0 want = spec_q8_0(&x[32 * b]);
        ASSERT_EQ(std::memcmp(&got[b], &want, sizeof want), 0) << "block " << b;
    }
}

TEST(ActivationQ8_1, SumUsesUnroundedScale) {
    std::vector<float> x = test::gaussian(32 * 512, 4);
    std::vector<BlockQ8_1> got(512);
    quantize_row(DType::Q8_1, x.data(), got.data(), int64_t(x.size()));
    for (size_t b = 0; b < got.size(); ++b) {
        const BlockQ8_0 want = spec_q8_0(&x[32 * b]);
        ASSERT_EQ(got[b].d, want.d);
        ASSERT_EQ(std::memcmp(got[b].qs, want.qs, 32), 0);
        float amax = 0;
        int sum = 0;
        for (int j = 0; j < 32; ++j) {
            amax = std::max(amax, std::fabs(x[32 * b + j]));
            sum += want.qs[j];
        }
        ASSERT_EQ(got[b].s, f32_to_fp16((amax / 127.f) * float(sum))) << b;
    }
}

TEST(ActivationQ8_0, ReferenceWeightRoundingTiesAwayFromZero) {
    float x[32] = {127.0f, 2.5f, -2.5f, 0.5f, -3.5f};
    BlockQ8_0 b;
    quantize_q8_0_reference(x, &b, 32);
    EXPECT_EQ(b.qs[0], 127);
    EXPECT_EQ(b.qs[1], 3);
    EXPECT_EQ(b.qs[2], -3);
    EXPECT_EQ(b.qs[3], 1);
    EXPECT_EQ(b.qs[4], -4);
}

TEST(ActivationQ8_K, ScalesByTheSignedExtremeAndRoundsHalfToEven) {
    // max = -127 (largest magnitude, negative): iscale = 1, q = rint(x).
    float x[256] = {};
    x[0] = 2.5f;
    x[1] = 3.5f;
    x[2] = -0.5f;
    x[3] = 1.5f;
    x[4] = -127.0f;
    x[5] = 126.5f;
    x[17] = -2.5f;
    BlockQ8_K b;
    quantize_row(DType::Q8_K, x, &b, 256);
    EXPECT_EQ(b.d, 1.0f);
    const int want[6] = {2, 4, 0, 2, -127, 126};
    for (int j = 0; j < 6; ++j) EXPECT_EQ(b.qs[j], want[j]) << j;
    EXPECT_EQ(b.qs[17], -2);
    EXPECT_EQ(b.bsums[0], 2 + 4 + 0 + 2 - 127 + 126);
    EXPECT_EQ(b.bsums[1], -2);
    for (int g = 2; g < 16; ++g) EXPECT_EQ(b.bsums[g], 0);

    // max = +127: iscale = -1, so q = -rint(x) and d = -1.
    x[4] = 127.0f;
    quantize_row(DType::Q8_K, x, &b, 256);
    EXPECT_EQ(b.d, -1.0f);
    EXPECT_EQ(b.qs[0], -2);
    EXPECT_EQ(b.qs[1], -4);
    EXPECT_EQ(b.qs[4], -127);
    EXPECT_EQ(b.qs[5], -126);

    // Equal magnitudes: the first one decides the sign.
    float y[256] = {};
    y[10] = -5.0f;
    y[20] = 5.0f;
    quantize_row(DType::Q8_K, y, &b, 256);
    EXPECT_GT(b.d, 0.0f);
    EXPECT_EQ(b.qs[10], -127);
    EXPECT_EQ(b.qs[20], 127);
    std::swap(y[10], y[20]);
    quantize_row(DType::Q8_K, y, &b, 256);
    EXPECT_LT(b.d, 0.0f);

    // All zero: d = 0, everything zero.
    float z[256] = {};
    std::memset(&b, 0x55, sizeof b);
    quantize_row(DType::Q8_K, z, &b, 256);
    EXPECT_EQ(b.d, 0.0f);
    for (int j = 0; j < 256; ++j) ASSERT_EQ(b.qs[j], 0);
    for (int g = 0; g < 16; ++g) ASSERT_EQ(b.bsums[g], 0);
}

TEST(ActivationQ8_K, MatchesSpecBitForBit) {
    std::vector<float> x = test::gaussian(256 * 256, 31);
    std::vector<BlockQ8_K> got(256);
    quantize_row(DType::Q8_K, x.data(), got.data(), int64_t(x.size()));
    for (size_t b = 0; b < got.size(); ++b) {
        const float* xb = &x[256 * b];
        float max = 0, amax = 0;
        for (int j = 0; j < 256; ++j)
            if (std::fabs(xb[j]) > amax) amax = std::fabs(xb[j]), max = xb[j];
        const float iscale = -127.f / max;
        ASSERT_EQ(got[b].d, 1 / iscale);
        for (int j = 0; j < 256; ++j)
            ASSERT_EQ(got[b].qs[j], int(std::min(127.0f, std::nearbyint(iscale * xb[j])))) << b << " " << j;
        for (int g = 0; g < 16; ++g) {
            int sum = 0;
            for (int j = 0; j < 16; ++j) sum += got[b].qs[16 * g + j];
            ASSERT_EQ(got[b].bsums[g], sum);
        }
    }
}

}  // namespace
}  // namespace dsm
