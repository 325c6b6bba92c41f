// Multi-row x multi-token tiles (KernelTable::gemm, ::gemv and ::packed) against the
// same table's per-pair vec_dot, and kernels::matmul (threads, tiny matrices, decode
// and prompt paths, weights as in the file and packed) against scalar dot products.
#include <gtest/gtest.h>

#include <cmath>

#include "core/thread_pool.hpp"
#include "core/weight.hpp"
#include "kernel_test_util.hpp"
#include "kernels/matmul.hpp"
#include "kernels/pack.hpp"

namespace dsm::test {
namespace {

using kernels::KernelTable;

struct Problem {
    DType type;
    int64_t n, rows, tokens;
    std::vector<uint8_t> w;                  // rows weight rows
    std::vector<std::vector<uint8_t>> x;     // tokens activation rows (activation_type)
};

Problem make_problem(DType t, int64_t n, int64_t rows, int64_t tokens, std::mt19937& rng, bool raw) {
    Problem p{t, n, rows, tokens, {}, {}};
    for (int64_t r = 0; r < rows; ++r) {
        const std::vector<uint8_t> row = random_weights(t, n, rng, raw);
        p.w.insert(p.w.end(), row.begin(), row.end());
    }
    for (int64_t i = 0; i < tokens; ++i) p.x.push_back(random_activations(kernels::activation_type(t), n, rng, raw));
    return p;
}

// Runs a table's gemm on the whole problem (tokens prepared as matmul does) into an
// output with padding around every row, and checks each value against the same
// table's vec_dot and the padding for stray writes.
// w: the weights the kernel reads (p.w, or p.w packed for it).
void check_gemm(const KernelTable& table, const kernels::GemmKernel& gk, const Problem& p, const uint8_t* w,
                const std::string& what) {
    const DType a = kernels::activation_type(p.type);
    const size_t w_stride = row_bytes(p.type, p.n);
    std::vector<uint8_t> xp;
    size_t x_stride = row_bytes(a, p.n);
    if (gk.prepare) {
        x_stride = size_t(p.n / info(a).block_size) * gk.prepared_block_bytes;
        xp.resize(x_stride * size_t(p.tokens));
        for (int64_t t = 0; t < p.tokens; ++t) gk.prepare(p.n, p.x[size_t(t)].data(), xp.data() + size_t(t) * x_stride);
    } else {
        for (const auto& row : p.x) xp.insert(xp.end(), row.begin(), row.end());
    }
    const int64_t out_stride = p.rows + 3;
    const float sentinel = -12345.5f;
    std::vector<float> out(size_t(out_stride * p.tokens + 1), sentinel);
    gk.gemm(p.n, p.rows, p.tokens, w, w_stride, xp.data(), x_stride, out.data(), out_stride);
    for (int64_t t = 0; t < p.tokens; ++t) {
        for (int64_t r = 0; r < out_stride; ++r) {
            const float got = out[size_t(t * out_stride + r)];
            if (r >= p.rows) {
                ASSERT_EQ(got, sentinel) << what << ": write outside the tile at token " << t << " row " << r;
                continue;
            }
            const uint8_t* wr = p.w.data() + size_t(r) * w_stride;
            float want = NAN;
            table.vec_dot[int(p.type)](p.n, &want, wr, p.x[size_t(t)].data());
            const double tol = gemm_tolerance(p.type, magnitude(p.type, wr, p.x[size_t(t)].data(), p.n), p.n);
            ASSERT_NEAR(got, want, tol) << what << " row " << r << " token " << t;
        }
    }
    ASSERT_EQ(out.back(), sentinel) << what;
}

class GemmVsVecDot : public ::testing::TestWithParam<DType> {};

TEST_P(GemmVsVecDot, EdgeSizes) {
    const DType t = GetParam();
    const int64_t bs = info(t).block_size;
    int kernels_tested = 0;
    for (std::string_view isa : kernels::available()) {
        const KernelTable& table = *kernels::find(isa);
        for (const std::string_view kind : {"gemm", "gemv", "packed"}) {
            const kernels::PackedKernel& pk = table.packed[int(t)];
            const kernels::GemmKernel& gk =
                kind == "gemm" ? table.gemm[int(t)] : kind == "gemv" ? table.gemv[int(t)] : pk.kernel;
            if (!gk.gemm) continue;
            ++kernels_tested;
            std::mt19937 rng(99 + uint32_t(t));
            const std::vector<int64_t> block_counts = bs == 1 ? std::vector<int64_t>{1, 7, 45, 300}
                                                              : std::vector<int64_t>{1, 3, 5, bs == 32 ? 48 : 6};
            for (int64_t blocks : block_counts) {
                for (int64_t rows : {1, 2, 5, 16, 17, 33}) {
                    // 1 .. 17 tokens, and 35: two 16-token tiles (AMX) and a remainder.
                    for (int64_t tokens = 1; tokens <= 35; tokens += tokens == 17 ? 18 : 1) {
                        if (blocks > 1 && tokens % 4 != 1 && rows != 17 && tokens != 16) continue;  // keep the run short
                        const bool raw = (rows + tokens) % 2 == 0;
                        const Problem p = make_problem(t, blocks * bs, rows, tokens, rng, raw);
                        std::vector<uint8_t> packed;
                        if (kind == "packed") {
                            const int64_t groups = (rows + pk.group_rows - 1) / pk.group_rows;
                            packed.assign(size_t(groups * pk.group_rows) * row_bytes(t, p.n) + 64, 0xa5);
                            pk.pack(p.n, rows, p.w.data(), row_bytes(t, p.n), packed.data());
                            ASSERT_EQ(packed.back(), 0xa5) << "pack wrote past its groups";
                        }
                        check_gemm(table, gk, p, kind == "packed" ? packed.data() : p.w.data(),
                                   std::string(isa) + " " + std::string(kind) + " " + std::string(dtype_name(t)) +
                                       " n=" + std::to_string(p.n) + " rows=" + std::to_string(rows) +
                                       " tokens=" + std::to_string(tokens));
                        if (HasFatalFailure()) return;
                    }
                }
            }
        }
    }
    if (kernels_tested == 0) GTEST_SKIP() << "no table on this CPU has a gemm, gemv or packed kernel for " << dtype_name(t);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, GemmVsVecDot, ::testing::ValuesIn(dot_weight_types()),
                         [](const auto& i) { return type_label(i.param); });

// matmul with the active table against scalar dot products of the same activations
// (converted by the scalar table: from_float is bit-identical across tables), for
// every table, decode (1 token) and prompt shapes, serial and threaded sizes.
class MatmulVsScalar : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulVsScalar, AllTablesAndShapes) {
    const DType t = GetParam();
    const DType a = kernels::activation_type(t);
    const int64_t bs = info(t).block_size;
    const std::string before(kernels::active().isa);
    ThreadPool pool(2);
    std::mt19937 rng(5 + uint32_t(t));
    struct Shape {
        int64_t n, rows, tokens;
    };
    const int64_t k = std::max<int64_t>(bs, 32);
    const Shape shapes[] = {{k, 3, 1}, {k, 64, 7}, {2 * k, 64, 1}, {4 * k, 33, 17}, {8 * k, 200, 1},
                            {8 * k, 200, 9}, {6 * k, 130, 40}, {bs == 1 ? 64 : bs, 1, 3}};
    for (const Shape& s : shapes) {
        Weight w;
        w.type = t;
        w.cols = s.n;
        w.rows = s.rows;
        w.row_stride = row_bytes(t, s.n);
        std::vector<uint8_t> data;
        for (int64_t r = 0; r < s.rows; ++r) {
            const std::vector<uint8_t> row = random_weights(t, s.n, rng, r % 3 == 0);
            data.insert(data.end(), row.begin(), row.end());
        }
        w.data = data.data();
        const int64_t x_stride = s.n + 5, y_stride = s.rows + 2;
        const std::vector<float> x = normal(size_t(x_stride * s.tokens), rng, 2.0f);
        auto check = [&](std::string_view isa, const Weight& weights, const char* what) {
            ASSERT_TRUE(kernels::force(isa));
            std::vector<float> y(size_t(y_stride * s.tokens), NAN);
            std::vector<uint8_t> scratch;
            kernels::matmul(weights, x.data(), x_stride, s.tokens, y.data(), y_stride, pool, scratch);
            for (int64_t tok = 0; tok < s.tokens; ++tok) {
                std::vector<uint8_t> xq(row_bytes(a, s.n));
                kernels::scalar_table().from_float[int(a)](x.data() + tok * x_stride, xq.data(), s.n);
                for (int64_t r = 0; r < s.rows; ++r) {
                    float want;
                    kernels::scalar_table().vec_dot[int(t)](s.n, &want, w.row(r), xq.data());
                    const double tol = gemm_tolerance(t, magnitude(t, w.row(r), xq.data(), s.n), s.n);
                    ASSERT_NEAR(y[size_t(tok * y_stride + r)], want, tol)
                        << isa << what << dtype_name(t) << " n=" << s.n << " rows=" << s.rows << " tokens=" << s.tokens
                        << " at row " << r << " token " << tok;
                }
            }
        };
        // Every table multiplies the weights as they are and, where it has a packed
        // layout for the type, packed for it.
        for (std::string_view isa : kernels::available()) {
            check(isa, w, " ");
            if (HasFatalFailure()) return;
            const KernelTable& table = *kernels::find(isa);
            if (!table.packed[int(t)].pack) continue;
            Weight packed = w;
            std::vector<uint8_t> packed_bytes(kernels::packed_bytes(table, w) + 64);
            uint8_t* aligned = packed_bytes.data() + (64 - uintptr_t(packed_bytes.data()) % 64) % 64;
            kernels::pack(table, packed, aligned, pool);
            check(isa, packed, " packed ");
            if (HasFatalFailure()) return;
        }
    }
    ASSERT_TRUE(kernels::force(before));
}

INSTANTIATE_TEST_SUITE_P(AllTypes, MatmulVsScalar, ::testing::ValuesIn(dot_weight_types()),
                         [](const auto& i) { return type_label(i.param); });

// A stack of matrices (experts) packed on demand: nothing is written before a
// matrix's first product, exactly that matrix is packed then (once, however many
// threads ask), and products match scalar dot products before and after.
TEST(PackOnDemand, PacksEachMatrixAtItsFirstProductOnly) {
    const kernels::KernelTable& best = *kernels::find(kernels::available()[0]);
    int tested = 0;
    for (const DType t : dot_weight_types()) {
        if (!best.packed[int(t)].pack) continue;
        ++tested;
        const int64_t bs = info(t).block_size, n = 2 * std::max<int64_t>(bs, 32), rows = 20, n_mat = 3;
        std::mt19937 rng(17 + uint32_t(t));
        std::vector<uint8_t> data;
        for (int64_t r = 0; r < rows * n_mat; ++r) {
            const std::vector<uint8_t> row = random_weights(t, n, rng, false);
            data.insert(data.end(), row.begin(), row.end());
        }
        Weight stack;
        stack.type = t;
        stack.cols = n;
        stack.rows = rows;
        stack.n_mat = n_mat;
        stack.row_stride = row_bytes(t, n);
        stack.data = data.data();
        const size_t bytes = kernels::packed_bytes(best, stack);
        ASSERT_GT(bytes, 0u);
        std::vector<uint8_t> buffer(bytes + 64, 0x5a);
        uint8_t* dst = buffer.data() + (64 - uintptr_t(buffer.data()) % 64) % 64;
        std::vector<int64_t> packed_now;
        kernels::PackOnDemand state(n_mat, [&](const Weight& m) { packed_now.push_back(m.index); });
        kernels::pack_on_demand(best, stack, dst, state);
        const size_t mat_bytes = bytes / size_t(n_mat);
        auto untouched = [&](int64_t e) {
            for (size_t i = 0; i < mat_bytes; ++i)
                if (dst[size_t(e) * mat_bytes + i] != 0x5a) return false;
            return true;
        };
        ASSERT_TRUE(untouched(0) && untouched(1) && untouched(2)) << dtype_name(t);
        const std::string before(kernels::active().isa);
        ASSERT_TRUE(kernels::force(best.isa));
        ThreadPool pool(2);
        const std::vector<float> x = normal(size_t(n), rng, 1.0f);
        const DType a = kernels::activation_type(t);
        std::vector<uint8_t> xq(row_bytes(a, n));
        kernels::scalar_table().from_float[int(a)](x.data(), xq.data(), n);
        for (int round = 0; round < 2; ++round) {
            pool.parallel_for(4, [&](int64_t, int) {  // concurrent first use of matrix 1
                std::vector<float> y(static_cast<size_t>(rows));
                std::vector<uint8_t> scratch;
                kernels::matmul(stack.matrix(1), x.data(), n, 1, y.data(), rows, ThreadPool::serial(), scratch);
                for (int64_t r = 0; r < rows; ++r) {
                    float want;
                    const uint8_t* wr = stack.matrix(1).row(r);
                    kernels::scalar_table().vec_dot[int(t)](n, &want, wr, xq.data());
                    EXPECT_NEAR(y[size_t(r)], want, gemm_tolerance(t, magnitude(t, wr, xq.data(), n), n)) << r;
                }
            });
        }
        ASSERT_TRUE(kernels::force(before));
        EXPECT_EQ(packed_now, std::vector<int64_t>{1}) << dtype_name(t);
        EXPECT_TRUE(untouched(0) && untouched(2)) << dtype_name(t) << ": an unused matrix was packed";
        EXPECT_FALSE(untouched(1)) << dtype_name(t);
    }
    if (tested == 0) GTEST_SKIP() << "no packed layouts on this CPU";
}

}  // namespace
}  // namespace dsm::test
