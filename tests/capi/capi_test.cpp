// The C API: the same results as the C++ API, errors as return codes and messages.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <cstring>

#include <nlohmann/json.hpp>

#include "common/testdata.hpp"
#include "dsm/dsm.h"

extern "C" int capi_greedy_from_c(const char* model_path, const char* prompt, int32_t* out, int max);

namespace {

std::string model_path(const char* name) { return (dsm::test::testdata_dir() / "models" / name).string(); }

TEST(CApi, GreedyStoryFromCMatchesLlamaCpp) {
    DSM_REQUIRE_TESTDATA();
    const auto tok = nlohmann::json::parse(dsm::test::read_file(dsm::test::testdata_dir() / "golden/stories260K/prompt_8.tokens.json"));
    const auto greedy = nlohmann::json::parse(dsm::test::read_file(dsm::test::testdata_dir() / "golden/stories260K/prompt_8.greedy.json"));
    int32_t out[32];
    ASSERT_EQ(capi_greedy_from_c(model_path("stories260K.gguf").c_str(), tok["text"].get<std::string>().c_str(), out, 32), 32)
        << dsm_last_error();
    EXPECT_EQ(std::vector<int32_t>(out, out + 32), greedy["continuation"].get<std::vector<int32_t>>());
}

// Every loading mode gives llama.cpp's logits and greedy tokens on a quantized model
// (packed weights by default on AVX-512; the file's rows with DSM_LOAD_NO_REPACK).
TEST(CApi, LoadFlagsKeepResultsExact) {
    DSM_REQUIRE_TESTDATA();
    const std::filesystem::path golden = dsm::test::testdata_dir() / "golden/r1qwen-256.q4_k_m";
    const auto tokens = nlohmann::json::parse(dsm::test::read_file(golden / "prompt_8.tokens.json"))["tokens"]
                            .get<std::vector<int32_t>>();
    const auto greedy = nlohmann::json::parse(dsm::test::read_file(golden / "prompt_8.greedy.json"));
    const auto continuation = greedy["continuation"].get<std::vector<int32_t>>();
    const auto margins = greedy["margins"].get<std::vector<float>>();
    const auto want = dsm::test::read_f32(golden / "prompt_8.logits.f32");
    for (const uint32_t flags : {0u, uint32_t(DSM_LOAD_NO_REPACK), uint32_t(DSM_LOAD_HUGE_PAGES)}) {
        SCOPED_TRACE("flags " + std::to_string(flags));
        dsm_model* m = dsm_model_load_with(model_path("r1qwen-256.q4_k_m.gguf").c_str(), flags);
        ASSERT_NE(m, nullptr) << dsm_last_error();
        const int32_t n_vocab = dsm_model_n_vocab(m);
        dsm_context* ctx = dsm_context_new(m, dsm_context_params{64, 2, 1});
        ASSERT_NE(ctx, nullptr) << dsm_last_error();
        std::vector<float> logits(tokens.size() * size_t(n_vocab));
        ASSERT_EQ(dsm_eval(ctx, tokens.data(), int32_t(tokens.size()), logits.data()), 0) << dsm_last_error();
        ASSERT_EQ(logits.size(), want.size());
        for (size_t i = 0; i < logits.size(); ++i) ASSERT_NEAR(logits[i], want[i], 0.05) << "logit " << i;
        std::vector<float> last(logits.end() - n_vocab, logits.end());
        for (size_t j = 0; j < continuation.size() && margins[j] >= 0.05f; ++j) {  // near ties: see golden_test
            const auto next = int32_t(std::max_element(last.begin(), last.end()) - last.begin());
            ASSERT_EQ(next, continuation[j]) << "greedy token " << j;
            ASSERT_EQ(dsm_eval(ctx, &next, 1, last.data()), 0) << dsm_last_error();
        }
        dsm_context_free(ctx);
        dsm_model_free(m);
    }
    EXPECT_EQ(dsm_model_load_with(model_path("r1qwen-256.q4_k_m.gguf").c_str(), 64u), nullptr);
    EXPECT_EQ(std::string(dsm_last_error()), "unknown load flags 64");
}

TEST(CApi, EvalLogitsAndTokenize) {
    DSM_REQUIRE_TESTDATA();
    dsm_model* m = dsm_model_load(model_path("stories260K.gguf").c_str());
    ASSERT_NE(m, nullptr) << dsm_last_error();
    EXPECT_EQ(dsm_model_n_vocab(m), 512);
    int32_t ids[4];
    const char* text = "Once upon a time, there was";
    const int32_t need = dsm_tokenize(m, text, strlen(text), 1, 0, ids, 4);
    EXPECT_EQ(need, -8);  // 8 ids do not fit in 4
    std::vector<int32_t> all(8);
    ASSERT_EQ(dsm_tokenize(m, text, strlen(text), 1, 0, all.data(), 8), 8);
    char piece[16];
    const int32_t n = dsm_token_to_piece(m, all[1], piece, sizeof piece);
    ASSERT_GT(n, 0);
    EXPECT_EQ(std::string(piece, size_t(n)), " Once");

    dsm_context* ctx = dsm_context_new(m, dsm_context_params{16, 1, 1});
    ASSERT_NE(ctx, nullptr);
    std::vector<float> logits(8 * 512);
    ASSERT_EQ(dsm_eval(ctx, all.data(), 8, logits.data()), 0) << dsm_last_error();
    const auto golden = dsm::test::read_f32(dsm::test::testdata_dir() / "golden/stories260K/prompt_8.logits.f32");
    for (size_t i = 0; i < logits.size(); ++i) ASSERT_NEAR(logits[i], golden[i], 1e-4 + 1e-5 * std::fabs(golden[i]));
    EXPECT_EQ(dsm_n_past(ctx), 8);

    // Errors: bad token, overflow, NULLs.
    const int32_t bad = 600;
    EXPECT_EQ(dsm_eval(ctx, &bad, 1, nullptr), -1);
    EXPECT_NE(std::string(dsm_last_error()).find("token id 600"), std::string::npos);
    EXPECT_EQ(dsm_eval(ctx, all.data(), 8, nullptr), 0);  // 8 more fit exactly
    EXPECT_EQ(dsm_n_past(ctx), 16);
    dsm_clear(ctx);
    std::vector<int32_t> many(17, 5);
    EXPECT_EQ(dsm_eval(ctx, many.data(), 17, nullptr), -1);
    EXPECT_NE(std::string(dsm_last_error()).find("context overflow"), std::string::npos);
    EXPECT_EQ(dsm_eval(nullptr, many.data(), 1, nullptr), -1);
    EXPECT_EQ(std::string(dsm_last_error()), "ctx is NULL");
    dsm_context_free(ctx);
    dsm_model_free(m);

    EXPECT_EQ(dsm_model_load("/nonexistent.gguf"), nullptr);
    EXPECT_NE(std::string(dsm_last_error()).find("/nonexistent.gguf"), std::string::npos);
}

}  // namespace
