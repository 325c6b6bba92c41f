// Decode over long contexts splits the cache rows into chunks whose partial softmaxes
// merge (grouped-query attention here; MLA in mla_test.cpp): one token at a time must
// give the logits of the same tokens run as one prompt (which attends in one piece).
#include <gtest/gtest.h>

#include <cmath>

#include "dsm/dsm.hpp"
#include "golden.hpp"

namespace dsm::test {
namespace {

std::vector<float> run_tokens(Model& model, const std::vector<int32_t>& tokens, bool one_by_one) {
    auto ctx = model.create_context({.n_ctx = int(tokens.size()) + 8, .n_threads = 2, .logits_all = true,
                                     .kv_type = KvCacheType::F32});
    std::vector<float> out;
    if (one_by_one) {
        for (int32_t t : tokens) {
            ctx->set_input("input_ids", Tensor::tokens({t}));
            ctx->invoke();
            const Tensor& l = ctx->get_output("logits");
            out.insert(out.end(), l.f32(), l.f32() + l.numel());
        }
    } else {
        ctx->set_input("input_ids", Tensor::tokens(tokens));
        ctx->invoke();
        const Tensor& l = ctx->get_output("logits");
        out.assign(l.f32(), l.f32() + l.numel());
    }
    return out;
}

TEST(LongContext, ChunkedDecodeEqualsOnePiecePrompt) {
    DSM_REQUIRE_TESTDATA();
    for (const std::string name : {"r1qwen-tiny.f32", "dsllm-tiny.f32"}) {
        SCOPED_TRACE(name);
        auto model = Model::load((testdata_dir() / "models" / (name + ".gguf")).string());
        GoldenPrompt g = read_golden(name, 40);
        std::vector<int32_t> tokens;
        while (tokens.size() < 600) tokens.insert(tokens.end(), g.tokens.begin(), g.tokens.end());
        tokens.resize(600);  // decode reaches 2 chunks at 512 rows
        const auto steps = run_tokens(*model, tokens, true), prompt = run_tokens(*model, tokens, false);
        ASSERT_EQ(steps.size(), prompt.size());
        double worst = 0, scale = 0;
        for (size_t i = 0; i < steps.size(); ++i) {
            worst = std::max(worst, std::fabs(double(steps[i]) - prompt[i]));
            scale = std::max(scale, std::fabs(double(prompt[i])));
        }
        // Same arithmetic in another order (float rounding, ~1e-6 of the logit scale).
        EXPECT_LT(worst / scale, 1e-5);
    }
}

}  // namespace
}  // namespace dsm::test
