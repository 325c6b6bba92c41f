// The public runtime API: errors the caller can cause, cache behaviour, generation.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "common/testdata.hpp"
#include "dsm/dsm.hpp"
#include "formats/gguf.hpp"
#include "formats/gguf_writer.hpp"

namespace dsm {
namespace {

std::string model_path(const std::string& name) { return (test::testdata_dir() / "models" / name).string(); }

// Runs `fn` and returns the dsm::Error message it throws ("" if none).
template <typename F>
std::string error_of(F&& fn) {
    try {
        fn();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

#define EXPECT_ERROR_HAS(stmt, ...)                                         \
    do {                                                                    \
        const std::string msg_ = error_of([&] { stmt; });                   \
        ASSERT_FALSE(msg_.empty()) << #stmt " did not throw";               \
        for (const char* part : {__VA_ARGS__})                              \
            EXPECT_NE(msg_.find(part), std::string::npos) << "message: " << msg_ << "\nmissing: " << part; \
    } while (0)

class Api : public ::testing::Test {
protected:
    void SetUp() override {
        if (!test::have_testdata()) GTEST_SKIP() << "test data not found at " << test::testdata_dir();
        model = Model::load(model_path("dsllm-tiny.f32.gguf"));
    }
    std::shared_ptr<Model> model;
};

TEST_F(Api, WrongInputNameDtypeShapeTokenAndOverflowAreRefused) {
    auto ctx = model->create_context({.n_ctx = 16, .n_threads = 1});
    EXPECT_ERROR_HAS(ctx->set_input("tokens", Tensor::tokens({1, 2})), "unknown input 'tokens'", "expected 'input_ids'");
    EXPECT_ERROR_HAS(ctx->set_input("input_ids", Tensor(ElementType::F32, {3})), "dtype mismatch", "expected i32",
                     "got f32");
    EXPECT_ERROR_HAS(ctx->set_input("input_ids", Tensor(ElementType::I32, {2, 3})), "Input shape mismatch",
                     "expected [n_tokens] or [1, n_tokens]", "got [2, 3]");
    EXPECT_ERROR_HAS(ctx->set_input("input_ids", Tensor(ElementType::I32, {0})), "Input shape mismatch", "got [0]");
    EXPECT_ERROR_HAS(ctx->set_input("input_ids", Tensor::tokens({1, 512})), "token id 512", "index 1", "n_vocab = 512");
    EXPECT_ERROR_HAS(ctx->set_input("input_ids", Tensor::tokens({-1})), "token id -1");
    std::vector<int32_t> many(17, 5);
    EXPECT_ERROR_HAS(ctx->set_input("input_ids", Tensor::tokens(many)), "context overflow", "n_ctx = 16", "17 new");
    EXPECT_ERROR_HAS(ctx->invoke(), "no input set");
    EXPECT_ERROR_HAS(ctx->get_output("logits"), "no output yet");
    EXPECT_ERROR_HAS(ctx->get_output("hidden"), "unknown output 'hidden'", "expected 'logits'");
    // A [1, n] tensor is accepted and fills the cache.
    Tensor t(ElementType::I32, {1, 10});
    for (int i = 0; i < 10; ++i) t.i32()[i] = i + 1;
    ctx->set_input("input_ids", t);
    ctx->invoke();
    EXPECT_EQ(ctx->n_past(), 10);
    EXPECT_EQ(ctx->get_output("logits").shape(), (std::vector<int64_t>{10, 512}));
    std::vector<int32_t> seven(7, 3);
    EXPECT_ERROR_HAS(ctx->set_input("input_ids", Tensor::tokens(seven)), "10 tokens in the cache + 7 new exceed n_ctx = 16");
}

TEST_F(Api, PromptAtOnceEqualsTokenByToken) {
    // A batch runs the prompt kernels (tiled products), single tokens the decode ones:
    // the same sums in another order. For F32 weights that is float rounding (~1e-7 of
    // the logit scale; bound 1e-5). Quantized products round each activation row to 8
    // bits, so a last-bit difference upstream can move one value across a rounding
    // boundary: the testdata README measured up to 0.011 for llama.cpp itself; bound
    // 0.05 as its guidance says.
    for (const char* name : {"dsllm-tiny.f32.gguf", "r1qwen-256.q4_k_m.gguf", "dscoder-256.q8_0.gguf", "dsmoe-tiny.q4_0.gguf"}) {
        SCOPED_TRACE(name);
        const bool f32 = std::string(name).find(".f32.") != std::string::npos;
        auto m = Model::load(model_path(name));
        const std::vector<int32_t> ids = {1, 100, 200, 300, 400, 17, 99, 250, 3, 511};
        auto batch = m->create_context({.n_ctx = 64, .kv_type = KvCacheType::F32});
        batch->set_input("input_ids", Tensor::tokens(ids));
        batch->invoke();
        const Tensor all = batch->get_output("logits");
        auto single = m->create_context({.n_ctx = 64, .kv_type = KvCacheType::F32});
        const int64_t V = m->info().n_vocab;
        double worst = 0, scale = 0;
        for (size_t i = 0; i < ids.size(); ++i) {
            single->set_input("input_ids", Tensor::tokens({ids[i]}));
            single->invoke();
            const Tensor& one = single->get_output("logits");
            for (int64_t v = 0; v < V; ++v) {
                const double a = one.f32()[v], b = all.f32()[int64_t(i) * V + v];
                worst = std::max(worst, std::fabs(a - b));
                scale = std::max(scale, std::fabs(b));
            }
        }
        EXPECT_LE(worst, f32 ? 1e-5 * scale : 0.05) << "max |batch - single| = " << worst << ", logit scale " << scale;
    }
}

TEST_F(Api, TwoGenerateCallsEqualOneLongCall) {
    const std::vector<int32_t> prompt = {1, 42, 77, 300};
    for (float temp : {0.0f, 0.9f}) {
        SamplerParams sp;
        sp.temperature = temp;
        sp.seed = 1234;
        std::vector<int32_t> one, two;
        auto a = model->create_context({.n_ctx = 128});
        a->generate(prompt, 12, sp, [&](int32_t t) { one.push_back(t); return true; }, true);
        auto b = model->create_context({.n_ctx = 128});
        b->generate(prompt, 5, sp, [&](int32_t t) { two.push_back(t); return true; }, true);
        EXPECT_EQ(b->n_past(), int(prompt.size()) + 4);  // the 5th token waits for the next call
        // Continuing needs no re-evaluation: the next call only feeds the pending token.
        if (temp == 0.0f) {
            b->generate({}, 7, sp, [&](int32_t t) { two.push_back(t); return true; }, true);
            EXPECT_EQ(one, two);
        }
    }
}

TEST_F(Api, SameSeedSameTokensAndCallbackStops) {
    SamplerParams sp;
    sp.temperature = 1.0f;
    sp.top_k = 0;
    sp.top_p = 1.0f;
    sp.min_p = 0.0f;
    auto run = [&](uint64_t seed) {
        sp.seed = seed;
        std::vector<int32_t> out;
        auto ctx = model->create_context({.n_ctx = 64});
        ctx->generate(std::vector<int32_t>{1}, 20, sp, [&](int32_t t) { out.push_back(t); return true; }, true);
        return out;
    };
    EXPECT_EQ(run(7), run(7));
    EXPECT_NE(run(7), run(8));

    auto ctx = model->create_context({.n_ctx = 64});
    int calls = 0;
    const GenerateStats st = ctx->generate(std::vector<int32_t>{1}, 20, sp, [&](int32_t) { return ++calls < 3; }, true);
    EXPECT_EQ(calls, 3);
    EXPECT_TRUE(st.stopped_by_callback);
}

TEST_F(Api, GenerationStopsAtContextLimit) {
    SamplerParams sp;
    sp.temperature = 0;
    auto ctx = model->create_context({.n_ctx = 8});
    int n = 0;
    const GenerateStats st = ctx->generate(std::vector<int32_t>{1, 2, 3}, 100, sp, [&](int32_t) { ++n; return true; }, true);
    EXPECT_TRUE(st.hit_context_limit);
    EXPECT_EQ(ctx->n_past(), 8);
    EXPECT_EQ(n, 6);
}

// Rewrites a model file with one change, to test load-time validation.
std::string rewrite(const std::string& src, const std::string& name,
                    const std::function<bool(const gguf::TensorInfo&, gguf::Writer&)>& tensor_hook) {
    auto f = gguf::File::open(src);
    gguf::Writer w;
    for (const auto& [k, v] : f->metadata())
        if (k != "general.alignment") w.set_value(k, v);
    for (const auto& t : f->tensors())
        if (!tensor_hook(t, w)) w.add_tensor(t.name, t.type, t.ne, t.data);
    const std::string out = (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + name)).string();
    w.write(out);
    return out;
}

// What a decode step reads, the basis of the bandwidth roofline: everything but the
// embedding table (one row of it), and of the routed experts only the used share.
TEST_F(Api, DecodeBytesCountOneEmbeddingRowAndTheActiveExperts) {
    for (const char* name : {"dsllm-tiny.f32.gguf", "dsmoe-tiny.f32.gguf", "dsv2lite-tiny.f32.gguf"}) {
        SCOPED_TRACE(name);
        const auto file = gguf::File::open(model_path(name));
        const auto m = Model::load(model_path(name));
        ASSERT_NE(file->find_tensor("output.weight"), nullptr);  // untied: the table is not the output matrix
        const auto* embd = file->find_tensor("token_embd.weight");
        const int64_t n_expert = file->get_int(m->info().architecture + ".expert_count").value_or(0);
        const int64_t n_used = file->get_int(m->info().architecture + ".expert_used_count").value_or(0);
        double expected = 0, experts = 0;
        for (const auto& t : file->tensors()) {
            if (t.name.find("_exps.") != std::string::npos) experts += double(t.bytes);
            else if (&t != embd) expected += double(t.bytes);
        }
        expected += double(embd->bytes) / double(embd->ne[1]);
        if (n_expert > 0) {
            EXPECT_GT(experts, 0);
            expected += experts * double(n_used) / double(n_expert);
        }
        EXPECT_NEAR(double(m->info().decode_bytes_per_token), expected, double(file->tensors().size()));
        EXPECT_LT(m->info().decode_bytes_per_token, m->info().weight_bytes);
    }
}

TEST_F(Api, LoadNamesMissingAndMisshapenTensors) {
    const std::string src = model_path("dsllm-tiny.f32.gguf");
    const std::string missing = rewrite(src, "missing.gguf", [](const gguf::TensorInfo& t, gguf::Writer&) {
        return t.name == "blk.1.attn_k.weight";
    });
    EXPECT_ERROR_HAS(Model::load(missing), "missing tensor 'blk.1.attn_k.weight'", "expected shape [64, 32]");
    const std::string wrong = rewrite(src, "wrong.gguf", [](const gguf::TensorInfo& t, gguf::Writer& w) {
        if (t.name != "blk.0.ffn_up.weight") return false;
        w.add_tensor(t.name, t.type, {128, 64}, t.data);
        return true;
    });
    EXPECT_ERROR_HAS(Model::load(wrong), "tensor 'blk.0.ffn_up.weight' has shape [128, 64], expected [64, 128]");
    std::filesystem::remove(missing);
    std::filesystem::remove(wrong);
}

}  // namespace
}  // namespace dsm
