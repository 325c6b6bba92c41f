// Dot-product kernels and dispatch: every table's vec_dot against the double
// dot product of the dequantized operands, and the dispatch rules.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/error.hpp"
#include "kernels/kernels.hpp"
#include "quant/blocks.hpp"
#include "quant/quant.hpp"
#include "quant_test_util.hpp"

namespace dsm {
namespace {

using kernels::activation_type;
using kernels::KernelTable;

struct Operands {
    std::vector<uint8_t> w, x;       // quantized weight row and activation row
    std::vector<float> wf, xf;       // their dequantized values
};

Operands make_operands(const KernelTable& table, DType wt, int64_t n, uint32_t seed, float x_sigma = 1.0f) {
    const DType at = activation_type(wt);
    Operands o;
    const std::vector<float> w = test::gaussian(size_t(n), seed, 0.05f);
    std::vector<float> x = test::gaussian(size_t(n), seed + 1000, x_sigma);
    for (int64_t i = 0; i < std::min<int64_t>(n, 256); ++i) x[size_t(i)] = 0;  // one all-zero activation block
    o.w.resize(row_bytes(wt, n));
    o.x.resize(row_bytes(at, n));
    quantize_row(wt, w.data(), o.w.data(), n);
    table.from_float[int(at)](x.data(), o.x.data(), n);
    o.wf.resize(size_t(n));
    o.xf.resize(size_t(n));
    dequantize_row(wt, o.w.data(), o.wf.data(), n);
    dequantize_row(at, o.x.data(), o.xf.data(), n);
    return o;
}

// Allowed difference between the kernel and the double dot product: the bound of
// float recursive summation, (terms + a few) * 2^-24 * sum |w_i x_i|, where the
// terms are the per-block products (the integer dot inside a block is exact; the
// plain float types sum in double). For Q8_1 activations the kernel uses the
// block's stored s = fp16(d * sum q) for sum(x); that rounding is the format's,
// so its exact size is added.
double tolerance(DType wt, const Operands& o, int64_t n) {
    double mag = 0;
    for (int64_t i = 0; i < n; ++i) mag += std::fabs(double(o.wf[size_t(i)]) * o.xf[size_t(i)]);
    const int64_t bs = info(wt).block_size;
    const double terms = bs == 1 ? 2 : double(n / bs) + 4;
    double tol = terms * std::ldexp(mag, -24) + 1e-30;
    if (activation_type(wt) == DType::Q8_1) {
        const auto* xb = reinterpret_cast<const BlockQ8_1*>(o.x.data());
        for (int64_t b = 0; b < n / 32; ++b) {
            double sum_x = 0;
            for (int j = 0; j < 32; ++j) sum_x += o.xf[size_t(32 * b + j)];
            const double m = wt == DType::Q4_1 ? test::read_fp16(o.w.data() + b * sizeof(BlockQ4_1) + 2)
                                               : test::read_fp16(o.w.data() + b * sizeof(BlockQ5_1) + 2);
            tol += std::fabs(m) * (std::fabs(test::fp16_value(xb[b].s) - sum_x) + 1e-6 * std::fabs(sum_x));
        }
    }
    return tol;
}

double reference_dot(const Operands& o) {
    double s = 0;
    for (size_t i = 0; i < o.wf.size(); ++i) s += double(o.wf[i]) * double(o.xf[i]);
    return s;
}

class VecDot : public ::testing::TestWithParam<DType> {};

TEST_P(VecDot, EveryTableMatchesDequantizedDotProduct) {
    const DType wt = GetParam();
    for (std::string_view isa : kernels::available()) {
        const KernelTable& table = *kernels::find(isa);
        ASSERT_NE(table.vec_dot[int(wt)], nullptr) << isa;
        for (int64_t n : {256, 768, 4096}) {
            for (uint32_t seed = 1; seed <= 6; ++seed) {
                const Operands o = make_operands(table, wt, n, seed * 31 + uint32_t(n), seed % 2 ? 1.0f : 30.0f);
                float got = NAN;
                table.vec_dot[int(wt)](n, &got, o.w.data(), o.x.data());
                const double want = reference_dot(o);
                ASSERT_NEAR(double(got), want, tolerance(wt, o, n))
                    << isa << " " << dtype_name(wt) << " n=" << n << " seed=" << seed;
            }
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllWeightTypes, VecDot, ::testing::ValuesIn(test::weight_types()),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

// With a single block the kernel's only float operations are d_w * d_x (exact)
// and one multiply by the integer dot product: the result is the exact value
// rounded once.
TEST(VecDot, SingleBlockIsCorrectlyRounded) {
    const KernelTable& table = kernels::scalar_table();
    for (DType wt : {DType::Q4_0, DType::Q5_0, DType::Q8_0}) {
        for (uint32_t seed = 0; seed < 200; ++seed) {
            const Operands o = make_operands(table, wt, 32, seed);
            const std::vector<float> x = test::gaussian(32, seed + 5);
            std::vector<uint8_t> xq(sizeof(BlockQ8_0));
            std::vector<float> xf(32);
            table.from_float[int(DType::Q8_0)](x.data(), xq.data(), 32);
            dequantize_row(DType::Q8_0, xq.data(), xf.data(), 32);
            double exact = 0;  // every product and partial sum is exact in double
            for (int j = 0; j < 32; ++j) exact += double(o.wf[size_t(j)]) * xf[size_t(j)];
            float got;
            table.vec_dot[int(wt)](32, &got, o.w.data(), xq.data());
            ASSERT_EQ(got, float(exact)) << dtype_name(wt) << " seed " << seed;
        }
    }
}

// Every table's activation conversion must produce the scalar table's bytes: the
// activation rounding decides whether results match llama.cpp.
TEST(Dispatch, FromFloatIsIdenticalAcrossTables) {
    const KernelTable& scalar = kernels::scalar_table();
    const std::vector<float> x = test::gaussian(4096, 99, 3.0f);
    for (std::string_view isa : kernels::available()) {
        const KernelTable& table = *kernels::find(isa);
        for (DType at : {DType::F32, DType::F16, DType::BF16, DType::Q8_0, DType::Q8_1, DType::Q8_K}) {
            ASSERT_NE(table.from_float[int(at)], nullptr) << isa << " " << dtype_name(at);
            std::vector<uint8_t> a(row_bytes(at, 4096)), b(row_bytes(at, 4096));
            table.from_float[int(at)](x.data(), a.data(), 4096);
            scalar.from_float[int(at)](x.data(), b.data(), 4096);
            EXPECT_EQ(a, b) << isa << " " << dtype_name(at);
        }
    }
}

TEST(Dispatch, ActivationTypes) {
    EXPECT_EQ(activation_type(DType::F32), DType::F32);
    EXPECT_EQ(activation_type(DType::F16), DType::F16);
    EXPECT_EQ(activation_type(DType::BF16), DType::BF16);
    for (DType t : {DType::Q4_0, DType::Q5_0, DType::Q8_0}) EXPECT_EQ(activation_type(t), DType::Q8_0);
    for (DType t : {DType::Q4_1, DType::Q5_1}) EXPECT_EQ(activation_type(t), DType::Q8_1);
    for (DType t : {DType::Q2_K, DType::Q3_K, DType::Q4_K, DType::Q5_K, DType::Q6_K})
        EXPECT_EQ(activation_type(t), DType::Q8_K);
    EXPECT_THROW(activation_type(DType::I8), Error);
    EXPECT_THROW(activation_type(DType::Q8_K), Error);
    EXPECT_THROW(activation_type(DType::Q8_1), Error);
}

TEST(Dispatch, TablesAndSelection) {
    const std::vector<std::string_view> isas = kernels::available();
    ASSERT_FALSE(isas.empty());
    EXPECT_EQ(isas.back(), "scalar");
    EXPECT_EQ(kernels::scalar_table().isa, "scalar");
    for (DType t : test::weight_types()) EXPECT_NE(kernels::scalar_table().vec_dot[int(t)], nullptr) << dtype_name(t);
    EXPECT_EQ(kernels::find("no-such-isa"), nullptr);
    EXPECT_FALSE(kernels::force("no-such-isa"));

    const std::string_view before = kernels::active().isa;
    ASSERT_TRUE(kernels::force("scalar"));
    EXPECT_EQ(kernels::active().isa, "scalar");
    for (std::string_view isa : isas) {
        ASSERT_TRUE(kernels::force(isa));
        EXPECT_EQ(kernels::active().isa, isa);
        EXPECT_EQ(&kernels::active(), kernels::find(isa));
    }
    ASSERT_TRUE(kernels::force("auto"));
    EXPECT_EQ(kernels::active().isa, isas.front());
    ASSERT_TRUE(kernels::force(before));
}

// DSM_KERNELS is read when the table is first chosen, so this runs in a fresh
// child process ("threadsafe" death tests re-execute the binary).
TEST(Dispatch, HonoursEnvironmentVariable) {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    EXPECT_EXIT(
        {
            setenv("DSM_KERNELS", "no-such-isa", 1);
            std::exit(kernels::active().isa == kernels::available().front() ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "DSM_KERNELS=no-such-isa is not available");
    EXPECT_EXIT(
        {
            setenv("DSM_KERNELS", "scalar", 1);
            std::exit(kernels::active().isa == "scalar" ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace dsm
