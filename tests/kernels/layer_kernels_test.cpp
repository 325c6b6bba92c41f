// Attention over the KV cache (float and fp16 rows) and the element-wise layer
// functions of every table: the attention kernels against the scalar table within
// the float summation bound, SwiGLU and softmax against double-precision math.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/fp16.hpp"
#include "kernel_test_util.hpp"

namespace dsm::test {
namespace {

using kernels::KernelTable;

std::vector<const KernelTable*> tables() {
    std::vector<const KernelTable*> out;
    for (std::string_view isa : kernels::available()) out.push_back(kernels::find(isa));
    return out;
}

// A KV-cache-like buffer: n_kv rows of `width` values (float or fp16), values at
// column `col` of each row; returns the values as floats too.
struct Cache {
    std::vector<uint8_t> bytes;
    std::vector<float> values;  // [n_kv][n]
    size_t row_stride;
    const uint8_t* at(size_t col_bytes) const { return bytes.data() + col_bytes; }
};

Cache make_cache(bool f16, int64_t n_kv, int64_t width, int64_t col, int64_t n, std::mt19937& rng) {
    Cache c;
    const size_t elem = f16 ? 2 : 4;
    c.row_stride = size_t(width) * elem;
    c.bytes.assign(c.row_stride * size_t(n_kv), 0xcd);
    c.values.resize(size_t(n_kv * n));
    std::normal_distribution<float> dist(0.0f, 1.0f);
    for (int64_t j = 0; j < n_kv; ++j) {
        for (int64_t i = 0; i < n; ++i) {
            float v = dist(rng);
            uint8_t* p = c.bytes.data() + size_t(j) * c.row_stride + size_t(col + i) * elem;
            if (f16) {
                const uint16_t h = f32_to_fp16(v);
                std::memcpy(p, &h, 2);
                v = fp16_to_f32(h);
            } else {
                std::memcpy(p, &v, 4);
            }
            c.values[size_t(j * n + i)] = v;
        }
    }
    return c;
}

TEST(AttentionKernels, ScoresAndValuesMatchScalar) {
    std::mt19937 rng(3);
    const KernelTable& scalar = kernels::scalar_table();
    for (bool f16 : {false, true}) {
        for (int64_t n : {128, 64, 40, 7}) {
            for (int64_t nq : {1, 2, 3, 5, 6, 7, 8}) {
                for (int64_t n_kv : {1, 3, 4, 9, 33, 130}) {
                    const int64_t width = 3 * n + 5, kcol = 2, vcol = n + 4;
                    const Cache c = make_cache(f16, n_kv, width, kcol, n, rng);
                    const Cache v = make_cache(f16, n_kv, width, vcol, n, rng);
                    const std::vector<float> q = normal(size_t(nq * (n + 3)), rng, 1.0f);
                    std::vector<float> p = normal(size_t(nq * n_kv), rng, 1.0f);
                    for (float& x : p) x = std::fabs(x);
                    const size_t elem = f16 ? 2 : 4;
                    std::vector<float> s_ref(size_t(nq * n_kv)), o_ref(size_t(nq * (n + 1)));
                    scalar.attn_scores[f16](n, nq, q.data(), n + 3, n_kv, c.at(size_t(kcol) * elem), c.row_stride,
                                            s_ref.data(), n_kv);
                    scalar.attn_values[f16](n, nq, p.data(), n_kv, n_kv, v.at(size_t(vcol) * elem), v.row_stride,
                                            o_ref.data(), n + 1);
                    for (const KernelTable* t : tables()) {
                        std::vector<float> s(s_ref.size(), NAN), o(o_ref.size(), NAN);
                        t->attn_scores[f16](n, nq, q.data(), n + 3, n_kv, c.at(size_t(kcol) * elem), c.row_stride,
                                            s.data(), n_kv);
                        t->attn_values[f16](n, nq, p.data(), n_kv, n_kv, v.at(size_t(vcol) * elem), v.row_stride,
                                            o.data(), n + 1);
                        const std::string what = std::string(t->isa) + (f16 ? " f16" : " f32") + " n=" +
                                                 std::to_string(n) + " nq=" + std::to_string(nq) +
                                                 " n_kv=" + std::to_string(n_kv);
                        for (int64_t h = 0; h < nq; ++h) {
                            for (int64_t j = 0; j < n_kv; ++j) {
                                double mag = 0;
                                for (int64_t i = 0; i < n; ++i)
                                    mag += std::fabs(double(q[size_t(h * (n + 3) + i)]) * c.values[size_t(j * n + i)]);
                                ASSERT_NEAR(s[size_t(h * n_kv + j)], s_ref[size_t(h * n_kv + j)],
                                            2.0 * double(n) * std::ldexp(mag, -24) + 1e-30)
                                    << what << " score " << h << "," << j;
                            }
                            for (int64_t i = 0; i < n; ++i) {
                                double mag = 0;
                                for (int64_t j = 0; j < n_kv; ++j)
                                    mag += std::fabs(double(p[size_t(h * n_kv + j)]) * v.values[size_t(j * n + i)]);
                                ASSERT_NEAR(o[size_t(h * (n + 1) + i)], o_ref[size_t(h * (n + 1) + i)],
                                            2.0 * double(n_kv) * std::ldexp(mag, -24) + 1e-30)
                                    << what << " value " << h << "," << i;
                            }
                            ASSERT_TRUE(std::isnan(o[size_t(h * (n + 1) + n)])) << what << ": wrote past n";
                        }
                    }
                }
            }
        }
    }
}

// Multi-query attention over shared rows (MLA's absorbed form), fused or composed,
// against double-precision math. Bounds: a score is a float dot product (n_k roundings
// of its magnitude); a score error e moves every normalised weight by at most 2e
// relative, and the weighted sum adds n_kv roundings.
TEST(AttentionKernels, MultiQueryOverSharedRowsMatchesDoubleMath) {
    std::mt19937 rng(4);
    struct Shape { int64_t n_k, n_v, nq, n_kv; };
    for (bool f16 : {false, true}) {
        for (Shape sh : {Shape{576, 512, 16, 40}, Shape{576, 512, 5, 17}, Shape{40, 32, 17, 16}, Shape{7, 7, 33, 9},
                         Shape{72, 40, 3, 1}, Shape{24, 17, 16, 130}}) {
            const auto [n_k, n_v, nq, n_kv] = sh;
            const int64_t width = n_k + 3;
            const Cache c = make_cache(f16, n_kv, width, 0, n_k, rng);
            const std::vector<float> q = normal(size_t(nq * (n_k + 1)), rng, 1.0f);
            const float scale = 1.0f / std::sqrt(float(n_k));
            for (const KernelTable* t : tables()) {
                std::vector<float> o(size_t(nq * (n_v + 1)), NAN), lse(size_t(nq), NAN);
                kernels::attn_mqa(*t, f16, n_k, n_v, nq, q.data(), n_k + 1, scale, n_kv, c.at(0), c.row_stride,
                                  o.data(), n_v + 1, lse.data());
                const std::string what = std::string(t->isa) + (f16 ? " f16" : " f32") + " n_k=" +
                                         std::to_string(n_k) + " nq=" + std::to_string(nq) +
                                         " n_kv=" + std::to_string(n_kv);
                for (int64_t h = 0; h < nq; ++h) {
                    std::vector<double> s(static_cast<size_t>(n_kv));
                    double top = -INFINITY, score_err = 0;
                    for (int64_t j = 0; j < n_kv; ++j) {
                        double dot = 0, mag = 0;
                        for (int64_t i = 0; i < n_k; ++i) {
                            const double x = double(q[size_t(h * (n_k + 1) + i)]) * c.values[size_t(j * n_k + i)];
                            dot += x;
                            mag += std::fabs(x);
                        }
                        s[size_t(j)] = scale * dot;
                        top = std::max(top, s[size_t(j)]);
                        score_err = std::max(score_err, double(n_k + 4) * std::ldexp(scale * mag, -24));
                    }
                    double sum = 0;
                    for (double& v : s) sum += v = std::exp(v - top);
                    ASSERT_NEAR(lse[size_t(h)], top + std::log(sum), 2 * score_err + 4e-7 * (std::fabs(top) + 1))
                        << what << " lse " << h;
                    for (int64_t i = 0; i < n_v; ++i) {
                        double want = 0, mag = 0;
                        for (int64_t j = 0; j < n_kv; ++j) {
                            want += s[size_t(j)] / sum * c.values[size_t(j * n_k + i)];
                            mag += s[size_t(j)] / sum * std::fabs(c.values[size_t(j * n_k + i)]);
                        }
                        ASSERT_NEAR(o[size_t(h * (n_v + 1) + i)], want,
                                    (4 * score_err + double(n_kv + 16) * std::ldexp(1.0, -23)) * mag + 1e-30)
                            << what << " value " << h << "," << i;
                    }
                    ASSERT_TRUE(std::isnan(o[size_t(h * (n_v + 1) + n_v)])) << what << ": wrote past n_v";
                }
            }
        }
    }
}

// Within 4 ulp of the double-precision function (vector exp vs libm).
TEST(LayerKernels, SwigluMatchesDoubleMath) {
    std::mt19937 rng(8);
    std::vector<float> g = normal(1003, rng, 4.0f), up = normal(1003, rng, 1.0f);
    for (float v : {0.0f, -0.0f, 88.0f, -88.0f, 100.0f, -100.0f, 1e-30f, -1e-30f, 30.0f, -30.0f}) g.push_back(v);
    up.resize(g.size(), 1.5f);
    for (const KernelTable* t : tables()) {
        std::vector<float> y = g;
        t->swiglu(y.data(), up.data(), int64_t(y.size()));
        for (size_t i = 0; i < g.size(); ++i) {
            const double want = double(g[i]) / (1.0 + std::exp(-double(g[i]))) * double(up[i]);
            ASSERT_NEAR(y[i], want, 2.4e-7 * std::fabs(want) + 1e-37) << t->isa << " g=" << g[i];  // 4 ulp
        }
    }
}

TEST(LayerKernels, SoftmaxMatchesDoubleMath) {
    std::mt19937 rng(9);
    for (int64_t n : {1, 5, 16, 17, 100, 1000}) {
        std::vector<float> x = normal(size_t(n), rng, 5.0f);
        if (n > 3) x[2] = -INFINITY;  // masked position
        const float scale = 0.0883883f;
        for (const KernelTable* t : tables()) {
            std::vector<float> y = x;
            const float lse = t->softmax(y.data(), n, scale);
            // Exact math on the arguments every implementation rounds the same way:
            // x * scale and the difference to the maximum, in float.
            float mx = -INFINITY;
            for (float v : x) mx = std::max(mx, v * scale);
            double sum = 0;
            for (float v : x) sum += std::exp(double(v * scale - mx));
            ASSERT_NEAR(lse, mx + std::log(sum), 3e-7 * (std::fabs(mx) + 1)) << t->isa << " n=" << n;
            for (int64_t i = 0; i < n; ++i) {
                const double want = std::exp(double(x[size_t(i)] * scale - mx)) / sum;
                ASSERT_NEAR(y[size_t(i)], want, 3e-7 * want + 1e-38) << t->isa << " n=" << n << " i=" << i;
            }
        }
    }
}

// The vector kernels flush probabilities below the smallest normal float to zero:
// denormal operands make the values pass that multiplies them many times slower.
// Exponentials just above FLT_MIN that the normalisation (here by about 1000) takes
// below it are flushed too.
TEST(LayerKernels, SoftmaxLeavesNoDenormals) {
    std::vector<float> x(1000, 0.0f);
    for (float v = -75.0f; v > -126.0f; v -= 0.25f) x.push_back(v);
    double sum = 0;
    for (float v : x) sum += std::exp(double(v));
    int normal_tail = 0;
    for (const KernelTable* t : tables()) {
        if (t->isa == "scalar") continue;  // the reference: std::exp, denormals included
        std::vector<float> y = x;
        t->softmax(y.data(), int64_t(y.size()), 1.0f);
        for (size_t i = 0; i < y.size(); ++i) {
            const double want = std::exp(double(x[i])) / sum;
            ASSERT_NE(std::fpclassify(y[i]), FP_SUBNORMAL) << t->isa << " x=" << x[i];
            ASSERT_NEAR(y[i], want, 3e-7 * want + 1.2e-38) << t->isa << " x=" << x[i];
            if (i >= 1000 && y[i] > 0) ++normal_tail;
        }
    }
    if (normal_tail == 0 && kernels::available().size() > 1) ADD_FAILURE() << "every small probability was flushed";
}

}  // namespace
}  // namespace dsm::test
