// The llama.cpp goldens with the scalar kernels forced and with the best table this
// CPU runs: both must meet the goldens' tolerances (testdata README section 5, as in
// tests/models/golden_test.cpp). One model per weight type that the prompt path
// (gemm) and the decode path (vec_dot) both see.
#include <gtest/gtest.h>

#include <cmath>

#include "dsm/dsm.hpp"
#include "kernels/kernels.hpp"
#include "models/golden.hpp"

namespace dsm::test {
namespace {

void check_goldens(const std::string& name) {
    auto model = Model::load((testdata_dir() / "models" / (name + ".gguf")).string());
    const int64_t n_vocab = model->info().n_vocab;
    const bool exact = is_f32_model(name);
    for (int k : golden_prompt_sizes()) {
        SCOPED_TRACE(name + " prompt_" + std::to_string(k) + " kernels " + std::string(kernels::active().isa));
        const GoldenPrompt g = read_golden(name, k);
        auto ctx = model->create_context({.n_ctx = 256, .n_threads = 2, .kv_type = KvCacheType::F32});
        ctx->set_input("input_ids", Tensor::tokens(g.tokens));
        ctx->invoke();
        const Tensor& out = ctx->get_output("logits");
        ASSERT_EQ(out.numel(), int64_t(g.tokens.size()) * n_vocab);
        double worst = -1;
        for (int64_t i = 0; i < out.numel(); ++i) {
            const double want = g.logits[size_t(i)];
            const double tol = exact ? 1e-4 + 1e-5 * std::fabs(want) : 0.05;
            worst = std::max(worst, std::fabs(out.f32()[i] - want) - tol);
        }
        EXPECT_LE(worst, 0.0) << "a logit exceeds its tolerance";

        ctx->clear();
        std::vector<int32_t> got;
        SamplerParams greedy;
        greedy.temperature = 0;
        ctx->generate(g.tokens, 32, greedy, [&](int32_t t) { got.push_back(t); return true; }, true);
        ASSERT_EQ(got.size(), 32u);
        const float margin_floor = exact ? 1e-3f : 0.05f;
        for (size_t j = 0; j < 32 && g.margins[j] >= margin_floor; ++j)
            ASSERT_EQ(got[j], g.continuation[j]) << "greedy token " << j;
    }
}

class GoldensPerTable : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldensPerTable, ScalarForcedAndBestTable) {
    DSM_REQUIRE_TESTDATA();
    const std::string before(kernels::active().isa);
    for (std::string_view isa : {std::string_view("scalar"), kernels::available().front()}) {
        ASSERT_TRUE(kernels::force(isa));
        check_goldens(GetParam());
        if (HasFatalFailure()) break;
    }
    ASSERT_TRUE(kernels::force(before));
}

INSTANTIATE_TEST_SUITE_P(Models, GoldensPerTable,
                         ::testing::Values("r1qwen-256.q4_k_m", "r1qwen-256.q4_0", "r1qwen-256.q8_0",
                                           "r1qwen-tiny.f32"),
                         [](const auto& info) {
                             std::string s = info.param;
                             for (char& c : s)
                                 if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                             return s;
                         });

}  // namespace
}  // namespace dsm::test
