// Agreement with the reference encodings: llama.cpp's own test vectors
// (tokenizer/llamacpp-vocab), transformers.js encodings of the corpus
// (tokenizer/reference), llama.cpp tokenizations of the golden prompts, and
// chat-template renderings. Every mismatch is reported with the text.
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "tok_test_util.hpp"

namespace dsm::test {
namespace {

const std::filesystem::path kVocabDir = "tokenizer/llamacpp-vocab";

// Compares encode(text, add_special=false, parse_special=false) with a .out file,
// as llama.cpp's test-tokenizer-0 does, and checks the decode round trip.
void check_llamacpp_vectors(const Tokenizer& tok, const std::string& name) {
    const auto inputs = read_inp(testdata_dir() / kVocabDir / (name + ".inp"));
    const auto expected = read_out(testdata_dir() / kVocabDir / (name + ".out"));
    ASSERT_EQ(inputs.size(), 46u);
    ASSERT_EQ(expected.size(), inputs.size());
    size_t pass = 0;
    for (size_t i = 0; i < inputs.size(); ++i) {
        const auto ids = tok.encode(inputs[i], false, false);
        EXPECT_EQ(ids_str(ids), ids_str(expected[i])) << name << " #" << i << " text: '" << inputs[i] << "'";
        pass += ids == expected[i];
        EXPECT_EQ(tok.decode(ids), inputs[i]) << name << " #" << i;
    }
    EXPECT_EQ(pass, inputs.size()) << name;
    std::printf("[ vectors  ] %s: %zu/%zu\n", name.c_str(), pass, inputs.size());
}

TEST(LlamaCppVectors, DeepseekLlmGguf) {
    DSM_REQUIRE_TESTDATA();
    check_llamacpp_vectors(gguf_tokenizer((kVocabDir / "ggml-vocab-deepseek-llm.gguf").string()),
                           "ggml-vocab-deepseek-llm.gguf");
}

TEST(LlamaCppVectors, DeepseekCoderGguf) {
    DSM_REQUIRE_TESTDATA();
    check_llamacpp_vectors(gguf_tokenizer((kVocabDir / "ggml-vocab-deepseek-coder.gguf").string()),
                           "ggml-vocab-deepseek-coder.gguf");
}

TEST(LlamaCppVectors, LlamaSpmGguf) {
    DSM_REQUIRE_TESTDATA();
    check_llamacpp_vectors(gguf_tokenizer((kVocabDir / "ggml-vocab-llama-spm.gguf").string()),
                           "ggml-vocab-llama-spm.gguf");
}

// qwen2 and deepseek-r1-qwen have no GGUF here; the README says hf/qwen2.5 gives
// their ids for text without special tokens. Both loading paths are checked: the
// tokenizer.json itself, and the GGUF vocab the converter would write from it.
TEST(LlamaCppVectors, Qwen2FromTokenizerJson) {
    DSM_REQUIRE_TESTDATA();
    const Tokenizer& tok = hf_tokenizer("tokenizer/hf/qwen2.5");
    check_llamacpp_vectors(tok, "ggml-vocab-qwen2.gguf");
    check_llamacpp_vectors(tok, "ggml-vocab-deepseek-r1-qwen.gguf");
}

TEST(LlamaCppVectors, Qwen2AndR1QwenAsGgufVocab) {
    DSM_REQUIRE_TESTDATA();
    VocabSpec spec = hf_tokenizer("tokenizer/hf/qwen2.5").to_vocab_spec();
    EXPECT_EQ(spec.model, "gpt2");
    EXPECT_EQ(spec.pre, "qwen2");
    const auto qwen2 = Tokenizer::from_vocab(spec);
    check_llamacpp_vectors(*qwen2, "ggml-vocab-qwen2.gguf");
    spec.pre = "deepseek-r1-qwen";
    const auto r1 = Tokenizer::from_vocab(spec);
    check_llamacpp_vectors(*r1, "ggml-vocab-deepseek-r1-qwen.gguf");
}

// reference/<name>.jsonl: ids (add_special false), ids_with_special, decoded.
// DeepSeek-V3 adds BOS: its tokenizer_config has add_bos_token true, which Python
// transformers and llama.cpp honour (transformers.js does not; see the README).
void check_reference(const std::string& tokenizer_dir, const std::string& file, bool expect_bos) {
    const Tokenizer& tok = hf_tokenizer(tokenizer_dir);
    const auto records = read_jsonl(testdata_dir() / "tokenizer/reference" / file);
    ASSERT_FALSE(records.empty());
    size_t pass_ids = 0, pass_special = 0, pass_decoded = 0, pass_stream = 0;
    for (size_t i = 0; i < records.size(); ++i) {
        const auto& r = records[i];
        const std::string text = r.at("text").get<std::string>();
        const auto want = r.at("ids").get<std::vector<int32_t>>();
        auto want_special = r.at("ids_with_special").get<std::vector<int32_t>>();
        if (expect_bos) want_special.insert(want_special.begin(), tok.bos());

        const auto ids = tok.encode(text, false, true);
        EXPECT_EQ(ids_str(ids), ids_str(want)) << file << " #" << i << " text: '" << text << "'";
        pass_ids += ids == want;
        const auto ids_special = tok.encode(text, true, true);
        EXPECT_EQ(ids_str(ids_special), ids_str(want_special)) << file << " #" << i;
        pass_special += ids_special == want_special;

        const std::string decoded = tok.decode(want);
        EXPECT_EQ(decoded, r.at("decoded").get<std::string>()) << file << " #" << i;
        pass_decoded += decoded == r.at("decoded").get<std::string>();

        // Streaming one id at a time gives the same text. (A character cut in two would
        // come out as U+FFFD and break the equality.)
        StreamDecoder stream(tok);
        std::string streamed;
        for (int32_t id : want) streamed += stream.push(id);
        streamed += stream.flush();
        EXPECT_EQ(streamed, decoded) << file << " #" << i;
        pass_stream += streamed == decoded;
    }
    std::printf("[ reference] %s: ids %zu/%zu, ids_with_special %zu/%zu, decoded %zu/%zu, streamed %zu/%zu\n",
                file.c_str(), pass_ids, records.size(), pass_special, records.size(), pass_decoded, records.size(),
                pass_stream, records.size());
}

TEST(Reference, DeepseekV3Corpus) {
    DSM_REQUIRE_TESTDATA();
    check_reference("tokenizer/hf/deepseek-v3", "deepseek-v3.jsonl", true);
}
TEST(Reference, DeepseekV3LlamaCppInputs) {
    DSM_REQUIRE_TESTDATA();
    check_reference("tokenizer/hf/deepseek-v3", "deepseek-v3.llamacpp-inp.jsonl", true);
}
TEST(Reference, Qwen25Corpus) {
    DSM_REQUIRE_TESTDATA();
    check_reference("tokenizer/hf/qwen2.5", "qwen2.5.jsonl", false);
}
TEST(Reference, Qwen25LlamaCppInputs) {
    DSM_REQUIRE_TESTDATA();
    check_reference("tokenizer/hf/qwen2.5", "qwen2.5.llamacpp-inp.jsonl", false);
}
TEST(Reference, Qwen3Corpus) {
    DSM_REQUIRE_TESTDATA();
    check_reference("tokenizer/hf/qwen3", "qwen3.jsonl", false);
}
TEST(Reference, Qwen3LlamaCppInputs) {
    DSM_REQUIRE_TESTDATA();
    check_reference("tokenizer/hf/qwen3", "qwen3.llamacpp-inp.jsonl", false);
}

// The converter path: DeepSeek-V3's tokenizer.json as a GGUF vocab ("gpt2",
// pre "deepseek-v3") must tokenize the corpus exactly as the reference.
TEST(Reference, DeepseekV3AsGgufVocab) {
    DSM_REQUIRE_TESTDATA();
    const VocabSpec spec = hf_tokenizer("tokenizer/hf/deepseek-v3").to_vocab_spec();
    EXPECT_EQ(spec.model, "gpt2");
    EXPECT_EQ(spec.pre, "deepseek-v3");
    EXPECT_EQ(spec.tokens.size(), 128815u);
    EXPECT_EQ(spec.merges.size(), 127741u);
    EXPECT_EQ(spec.bos, 0);
    EXPECT_EQ(spec.eos, 1);
    EXPECT_EQ(spec.add_bos, true);
    const auto tok = Tokenizer::from_vocab(spec);
    const auto records = read_jsonl(testdata_dir() / "tokenizer/reference/deepseek-v3.jsonl");
    size_t pass = 0;
    for (const auto& r : records) {
        const auto want = r.at("ids").get<std::vector<int32_t>>();
        const auto ids = tok->encode(r.at("text").get<std::string>(), false, true);
        EXPECT_EQ(ids_str(ids), ids_str(want)) << r.at("text");
        pass += ids == want;
    }
    EXPECT_EQ(pass, records.size());
    std::printf("[ reference] deepseek-v3 as GGUF vocab: %zu/%zu\n", pass, records.size());
}

// reference/chat_template_cases.json: the rendered conversations encode to the
// recorded ids (special-token text such as <|im_start|> parsed as tokens).
TEST(Reference, ChatTemplateRenderings) {
    DSM_REQUIRE_TESTDATA();
    const auto j = nlohmann::json::parse(read_file(testdata_dir() / "tokenizer/reference/chat_template_cases.json"));
    const std::map<std::string, std::string> dirs = {{"deepseek-v3", "tokenizer/hf/deepseek-v3"},
                                                     {"qwen2.5", "tokenizer/hf/qwen2.5"},
                                                     {"qwen3", "tokenizer/hf/qwen3"}};
    size_t n = 0, pass = 0;
    for (const auto& [name, cases] : j.at("cases").items()) {
        ASSERT_TRUE(dirs.count(name)) << name;
        const Tokenizer& tok = hf_tokenizer(dirs.at(name));
        for (const auto& c : cases) {
            const auto want = c.at("ids_of_rendered_no_special").get<std::vector<int32_t>>();
            const auto rendered = c.at("rendered").get<std::string>();
            const auto ids = tok.encode(rendered, false, true);
            EXPECT_EQ(ids_str(ids), ids_str(want)) << name << " " << c.at("name");
            EXPECT_EQ(tok.decode(ids), rendered) << name << " " << c.at("name");
            ++n;
            pass += ids == want;
        }
    }
    EXPECT_EQ(n, 18u);
    std::printf("[ reference] chat template renderings: %zu/%zu\n", pass, n);
}

// golden/<model>/prompt_K.tokens.json hold llama.cpp's tokenization (BOS added).
void check_golden_prompts(const std::string& model_gguf, const std::string& golden_dir) {
    const Tokenizer& tok = gguf_tokenizer("models/" + model_gguf);
    EXPECT_TRUE(tok.add_bos());
    size_t n = 0;
    for (const char* k : {"1", "8", "40"}) {
        const auto j = nlohmann::json::parse(read_file(testdata_dir() / "golden" / golden_dir / (std::string("prompt_") + k + ".tokens.json")));
        if (!j.contains("text")) continue;
        const auto want = j.at("tokens").get<std::vector<int32_t>>();
        const auto ids = tok.encode(j.at("text").get<std::string>(), true, true);
        EXPECT_EQ(ids_str(ids), ids_str(want)) << golden_dir << " prompt_" << k;
        ++n;
    }
    EXPECT_EQ(n, 3u) << golden_dir;
}

TEST(GoldenPrompts, Stories260K) {
    DSM_REQUIRE_TESTDATA();
    check_golden_prompts("stories260K.gguf", "stories260K");
}

TEST(GoldenPrompts, KjvLlama) {
    DSM_REQUIRE_TESTDATA();
    check_golden_prompts("kjv-llama.f32.gguf", "kjv-llama.f32");
    // The README's example: a newline is the byte token <0x0A> = 13.
    const Tokenizer& tok = gguf_tokenizer("models/kjv-llama.f32.gguf");
    EXPECT_EQ(ids_str(tok.encode("And God said.\nAnd it was so.", true, true)),
              "1 570 392 396 2009 13 298 356 376 529 2009");
}

}  // namespace
}  // namespace dsm::test
