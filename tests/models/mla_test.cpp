// MLA specifics: the cache holds only the latent, and the absorbed and decompressed
// forms of attention agree to F32 rounding on every deepseek2 test model.
#include <gtest/gtest.h>

#include <cmath>

#include "dsm/dsm.hpp"
#include "golden.hpp"
#include "runtime/engine.hpp"

namespace dsm::test {
namespace {

std::vector<std::string> deepseek2_models() {
    std::vector<std::string> out;
    for (const std::string& m : golden_models())
        if (m.rfind("dsv", 0) == 0 || m.rfind("kjv-ds2", 0) == 0) out.push_back(m);
    return out;
}

std::shared_ptr<Model> load(const std::string& name) {
    return Model::load((testdata_dir() / "models" / (name + ".gguf")).string());
}

TEST(Mla, CacheHoldsOnlyTheLatent) {
    DSM_REQUIRE_TESTDATA();
    for (const std::string& name : deepseek2_models()) {
        SCOPED_TRACE(name);
        auto model = load(name);
        auto f = gguf::File::open((testdata_dir() / "models" / (name + ".gguf")).string());
        const int64_t kv_lora = f->require_int("deepseek2.attention.kv_lora_rank");
        const int64_t rope = f->require_int("deepseek2.rope.dimension_count");
        const int64_t layers = f->require_int("deepseek2.block_count");
        for (auto [type, elem] : {std::pair{KvCacheType::F16, 2}, std::pair{KvCacheType::F32, 4}}) {
            for (int n : {1, 100, 256}) {
                auto ctx = model->create_context({.n_ctx = n, .kv_type = type});
                EXPECT_EQ(ctx->kv_cache_bytes(), uint64_t((kv_lora + rope) * layers * elem * n));
            }
            EXPECT_EQ(model->info().kv_bytes_per_token(type), uint64_t((kv_lora + rope) * layers * elem));
        }
    }
}

TEST(Mla, GqaCacheHoldsKeysAndValues) {
    DSM_REQUIRE_TESTDATA();
    auto model = load("r1qwen-tiny.f32");  // 2 layers, 2 KV heads of 16
    auto ctx = model->create_context({.n_ctx = 100, .kv_type = KvCacheType::F16});
    EXPECT_EQ(ctx->kv_cache_bytes(), uint64_t(2 * 2 * (2 * 16) * 2 * 100));
}

// Runs the 40-token golden prompt (repeated to n_tokens) with one MLA mode; returns all logits.
std::vector<float> run_mode(Model& model, MlaMode mode, bool token_by_token, bool f32_activations = false,
                            int n_tokens = 40) {
    GoldenPrompt g = read_golden("dsv3-tiny.f32", 40);  // the prompt ids are the same for every model
    for (size_t i = 0; g.tokens.size() < size_t(n_tokens); ++i) g.tokens.push_back(g.tokens[i]);
    auto ctx = model.create_context({.n_ctx = std::max(64, n_tokens), .n_threads = 2, .kv_type = KvCacheType::F32});
    dynamic_cast<EngineContext&>(*ctx).set_mla_mode(mode);
    dynamic_cast<EngineContext&>(*ctx).set_f32_activations(f32_activations);
    std::vector<float> out;
    if (token_by_token) {
        for (int32_t t : g.tokens) {
            ctx->set_input("input_ids", Tensor::tokens({t}));
            ctx->invoke();
            const Tensor& l = ctx->get_output("logits");
            out.insert(out.end(), l.f32(), l.f32() + l.numel());
        }
    } else {
        ctx->set_input("input_ids", Tensor::tokens(g.tokens));
        ctx->invoke();
        const Tensor& l = ctx->get_output("logits");
        out.assign(l.f32(), l.f32() + l.numel());
    }
    return out;
}

// Largest |a - b| relative to the largest |b| (logits near zero make per-element
// relative errors meaningless).
double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    double worst = 0, scale = 0;
    for (size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return worst / scale;
}

TEST(Mla, AbsorbedEqualsDecompressedToF32Rounding) {
    DSM_REQUIRE_TESTDATA();
    for (const std::string& name : deepseek2_models()) {
        if (name.find("split") != std::string::npos) continue;  // split files only have the absorbed form
        SCOPED_TRACE(name);
        auto model = load(name);
        // Quantized models run at reference precision (F32 activations): with the
        // native 8-bit activation rounding, a 1e-7 difference can push one value
        // across a rounding boundary downstream and move a logit by ~0.03 in either form.
        const bool f32_act = !is_f32_model(name);
        const auto dec = run_mode(*model, MlaMode::Decompressed, false, f32_act);
        const auto abs_batch = run_mode(*model, MlaMode::Absorbed, false, f32_act);
        const auto abs_steps = run_mode(*model, MlaMode::Absorbed, true, f32_act);
        ASSERT_EQ(dec.size(), abs_batch.size());
        // Same arithmetic in another order: differences are float rounding, a few
        // ulps of the intermediate sums (~1e-6 of the logit scale). 1e-5 is well above
        // that and far below any real error (ignoring YaRN moves logits by 2e-3).
        EXPECT_LT(max_rel_diff(abs_batch, dec), 1e-5);
        EXPECT_LT(max_rel_diff(abs_steps, dec), 1e-5);
    }
}

// Decode at long contexts splits the cache rows between tasks and merges their partial
// softmaxes; the result is still the decompressed attention to float rounding.
TEST(Mla, AbsorbedDecodeOverLongContextsEqualsDecompressed) {
    DSM_REQUIRE_TESTDATA();
    auto model = load("dsv2lite-tiny.f32");
    const auto dec = run_mode(*model, MlaMode::Decompressed, false, false, 300);
    const auto abs_steps = run_mode(*model, MlaMode::Absorbed, true, false, 300);
    EXPECT_LT(max_rel_diff(abs_steps, dec), 1e-5);
}

TEST(Mla, SplitLayoutEqualsLegacyLayout) {
    DSM_REQUIRE_TESTDATA();
    auto legacy = load("dsv3-tiny.f32");
    auto split = load("dsv3-tiny-split.f32");
    EXPECT_LT(max_rel_diff(run_mode(*split, MlaMode::Auto, false), run_mode(*legacy, MlaMode::Decompressed, false)), 1e-4);
}

}  // namespace
}  // namespace dsm::test
