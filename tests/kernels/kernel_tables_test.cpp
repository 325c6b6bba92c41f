// Every kernel table this CPU runs against the scalar reference table: dot products
// within the summation-order bound, activation conversions byte for byte.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <limits>

#include "kernel_test_util.hpp"

namespace dsm::test {
namespace {

using kernels::KernelTable;

// Tables other than scalar (on a CPU without SIMD kernels the tests pass vacuously;
// the arm64 script runs them under qemu for the ARM tables).
std::vector<const KernelTable*> simd_tables() {
    std::vector<const KernelTable*> out;
    for (std::string_view isa : kernels::available())
        if (isa != "scalar") out.push_back(kernels::find(isa));
    return out;
}

TEST(KernelTables, ReportWhatRuns) {
    std::string names;
    for (std::string_view isa : kernels::available()) names += std::string(isa) + " ";
    std::printf("kernel tables on this CPU: %s(active: %.*s)\n", names.c_str(), int(kernels::active().isa.size()),
                kernels::active().isa.data());
    EXPECT_EQ(kernels::available().back(), "scalar");
}

// The table named by DSM_KERNELS (when set and available here) is the active one;
// scripts/test-arm64.sh runs the tests once per table this way.
TEST(KernelTables, EnvironmentChoosesTheActiveTable) {
    const char* env = std::getenv("DSM_KERNELS");
    if (!env || !*env || !kernels::find(env)) GTEST_SKIP() << "DSM_KERNELS not set to a table of this CPU";
    EXPECT_EQ(kernels::active().isa, std::string_view(env));
}

class VecDotVsScalar : public ::testing::TestWithParam<DType> {};

TEST_P(VecDotVsScalar, WithinSummationOrderBound) {
    const DType t = GetParam();
    const DType a = kernels::activation_type(t);
    const int64_t bs = info(t).block_size;
    const KernelTable& scalar = kernels::scalar_table();
    for (const KernelTable* table : simd_tables()) {
        std::mt19937 rng(1234 + uint32_t(t));
        const int64_t block = bs == 1 ? 1 : bs;
        for (int64_t n : {block * (bs == 1 ? 5 : 1), block * 3, block * 4, block * (bs == 1 ? 37 : 7),
                          int64_t(1536), int64_t(4096), int64_t(8960)}) {
            if (n % std::max<int64_t>(bs, 1) != 0) continue;
            for (int rep = 0; rep < 8; ++rep) {
                const bool raw_w = rep % 2 == 1, raw_x = rep % 4 >= 2;
                const float sigma = rep >= 4 ? 40.0f : 1.0f;
                const std::vector<uint8_t> w = random_weights(t, n, rng, raw_w);
                const std::vector<uint8_t> x = random_activations(a, n, rng, raw_x, sigma);
                float got = NAN, want = NAN;
                table->vec_dot[int(t)](n, &got, w.data(), x.data());
                scalar.vec_dot[int(t)](n, &want, w.data(), x.data());
                const double tol = order_tolerance(t, magnitude(t, w.data(), x.data(), n), n);
                ASSERT_TRUE(std::isfinite(want));
                ASSERT_NEAR(got, want, tol) << table->isa << " " << dtype_name(t) << " n=" << n << " rep=" << rep;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllTypes, VecDotVsScalar, ::testing::ValuesIn(dot_weight_types()),
                         [](const auto& i) { return type_label(i.param); });

// ---- activation conversions: identical bytes, including rounding ties, tails and
// non-finite values (the golden tests depend on llama.cpp-exact activation rounding).

void expect_same_bytes(DType a, const std::vector<float>& x, const std::string& what) {
    const int64_t n = int64_t(x.size());
    std::vector<uint8_t> want(row_bytes(a, n)), got(want.size());
    kernels::scalar_table().from_float[int(a)](x.data(), want.data(), n);
    for (const KernelTable* table : simd_tables()) {
        std::fill(got.begin(), got.end(), uint8_t(0xa5));
        table->from_float[int(a)](x.data(), got.data(), n);
        ASSERT_EQ(got, want) << table->isa << " " << dtype_name(a) << " " << what;
    }
}

float from_bits(uint32_t u) {
    float f;
    std::memcpy(&f, &u, 4);
    return f;
}

TEST(FromFloat, HalfTypesAllBitPatternsAndTails) {
    std::mt19937 rng(7);
    for (DType a : {DType::F16, DType::BF16, DType::F32}) {
        // Random bit patterns: NaN payloads, infinities, subnormals, every exponent.
        std::vector<float> x(4099);
        for (float& v : x) v = from_bits(uint32_t(rng()));
        expect_same_bytes(a, x, "random bits");
        // Around every fp16 rounding boundary: halfway points and their neighbours.
        x.clear();
        for (uint32_t h = 0; h < 0x7c00; h += 7) {
            const float lo = fp16_to_f32(uint16_t(h)), hi = fp16_to_f32(uint16_t(h + 1));
            const float mid = lo + (hi - lo) / 2;
            for (float v : {mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), lo})
                for (float s : {1.0f, -1.0f}) x.push_back(s * v);
        }
        for (float v : {65504.0f, 65519.99f, 65520.0f, 1e9f, -0.0f, 0.0f, std::numeric_limits<float>::denorm_min(),
                        std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::quiet_NaN()})
            x.push_back(v);
        expect_same_bytes(a, x, "fp16 boundaries");
        for (int n = 1; n <= 40; ++n) expect_same_bytes(a, normal(size_t(n), rng, 3.0f), "n=" + std::to_string(n));
    }
}

// Blocks that exercise the Q8 rounding: exact .5 ties, the largest value's sign,
// all-zero blocks, huge and tiny scales, NaN and infinity.
std::vector<float> q8_block_cases(int block, std::mt19937& rng) {
    std::vector<float> x;
    auto add_block = [&](std::vector<float> b) {
        b.resize(size_t(block), 0.0f);
        x.insert(x.end(), b.begin(), b.end());
    };
    // Scale 1 (|max| = 127): every k + 0.5 is a tie.
    for (float sign : {1.0f, -1.0f}) {
        std::vector<float> b = {sign * 127.0f};
        for (int k = -126; b.size() < size_t(block); k += 3) b.push_back(float(k) + 0.5f);
        add_block(b);
    }
    add_block({});                                             // all zero
    add_block({3.0f, 1.0f, -3.0f, 2.5f});                      // +max first
    add_block({-3.0f, 1.0f, 3.0f, 2.5f});                      // -max first
    add_block({1e-30f, -2e-30f, 3e-38f, 1e-45f});              // tiny / subnormal scale
    add_block({1e30f, -3e38f, 2e37f, 1.0f});                   // huge
    add_block({NAN, 1.0f, -2.0f, 0.5f});                       // NaN ignored by the max
    add_block({std::numeric_limits<float>::infinity(), 1.0f, -1.0f});
    add_block({-std::numeric_limits<float>::infinity(), std::numeric_limits<float>::infinity()});
    add_block({NAN, NAN});
    for (int i = 0; i < 24; ++i) {
        std::vector<float> b = normal(size_t(block), rng, std::ldexp(1.0f, int(rng() % 40) - 20));
        if (i % 3 == 0)  // many equal magnitudes
            for (float& v : b) v = std::round(v * 4) / 4;
        add_block(b);
    }
    return x;
}

TEST(FromFloat, Q8TypesIdenticalBytes) {
    std::mt19937 rng(11);
    for (DType a : {DType::Q8_0, DType::Q8_1}) expect_same_bytes(a, q8_block_cases(32, rng), "special blocks");
    expect_same_bytes(DType::Q8_K, q8_block_cases(kQK_K, rng), "special blocks");
    for (int rep = 0; rep < 20; ++rep) {
        const std::vector<float> x = normal(size_t(kQK_K) * 12, rng, rep % 2 ? 100.0f : 0.01f);
        for (DType a : {DType::Q8_0, DType::Q8_1, DType::Q8_K}) expect_same_bytes(a, x, "normal");
    }
}

}  // namespace
}  // namespace dsm::test
