// Every model with llama.cpp goldens: all-position logits and greedy continuations.
//
// Tolerances (testdata README section 5): F32 models |Δ| <= 1e-4 + 1e-5|logit|, and
// greedy tokens must match up to the first step whose golden margin is below 1e-3.
// Quantized models: the engine quantizes activations exactly as llama.cpp does
// (Q8_0 / Q8_K), which matches most rows to ~1e-6, but a value landing on the other
// side of a rounding boundary moves a logit by up to 0.013 (README: "up to 0.013"),
// and the KQ/softmax summation order differs, so the README's bound of 0.05 applies;
// greedy tokens are compared while the golden margin exceeds 0.05.
#include <gtest/gtest.h>

#include <cmath>

#include "dsm/dsm.hpp"
#include "golden.hpp"

namespace dsm::test {
namespace {

class Golden : public ::testing::TestWithParam<std::string> {};

TEST_P(Golden, LogitsAndGreedyMatchLlamaCpp) {
    DSM_REQUIRE_TESTDATA();
    const std::string name = GetParam();
    const bool exact = is_f32_model_or_stories(name);
    auto model = Model::load((testdata_dir() / "models" / (name + ".gguf")).string());
    const int64_t n_vocab = model->info().n_vocab;

    for (int k : golden_prompt_sizes()) {
        SCOPED_TRACE("prompt_" + std::to_string(k));
        const GoldenPrompt g = read_golden(name, k);
        ASSERT_EQ(int64_t(g.logits.size()), int64_t(g.tokens.size()) * n_vocab);

        auto ctx = model->create_context({.n_ctx = 256, .n_threads = 2, .kv_type = KvCacheType::F32});
        ctx->set_input("input_ids", Tensor::tokens(g.tokens));
        ctx->invoke();
        const Tensor& out = ctx->get_output("logits");
        ASSERT_EQ(out.shape(), (std::vector<int64_t>{int64_t(g.tokens.size()), n_vocab}));
        double worst = 0;
        int64_t worst_at = -1;
        for (int64_t i = 0; i < out.numel(); ++i) {
            const double want = g.logits[size_t(i)], got = out.f32()[i];
            const double tol = exact ? 1e-4 + 1e-5 * std::fabs(want) : 0.05;
            const double excess = std::fabs(got - want) - tol;
            if (worst_at < 0 || excess > worst) worst = excess, worst_at = i;
        }
        EXPECT_LE(worst, 0.0) << name << ": logit " << worst_at % n_vocab << " of row " << worst_at / n_vocab
                              << " exceeds its tolerance by " << worst;

        // Greedy continuation, fed token by token after the prompt.
        ctx->clear();
        std::vector<int32_t> got;
        SamplerParams greedy;
        greedy.temperature = 0;
        ctx->generate(g.tokens, 32, greedy, [&](int32_t t) { got.push_back(t); return true; }, true);
        ASSERT_EQ(got.size(), 32u);
        const float margin_floor = exact ? 1e-3f : 0.05f;
        for (size_t j = 0; j < 32; ++j) {
            if (g.margins[j] < margin_floor) break;  // a near tie: either token is right, and so is what follows
            ASSERT_EQ(got[j], g.continuation[j]) << name << ": greedy token " << j;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(AllModels, Golden, ::testing::ValuesIn(golden_models()),
                         [](const auto& info) {
                             std::string s = info.param;
                             for (char& c : s)
                                 if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                             return s;
                         });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Golden);

}  // namespace
}  // namespace dsm::test
