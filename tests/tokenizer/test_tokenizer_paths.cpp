// Cross-checks between the two loading paths, the converter, special tokens,
// decoding, streaming, and hard inputs (invalid UTF-8, empty, 1 MB without spaces).
#include <gtest/gtest.h>

#include <chrono>

#include "core/error.hpp"
#include "tok_test_util.hpp"
#include "tokenizer/unicode.hpp"

namespace dsm::test {
namespace {

std::vector<std::string> corpus_texts() {
    std::vector<std::string> out;
    for (const auto& r : read_jsonl(testdata_dir() / "tokenizer/reference/corpus.jsonl")) out.push_back(r.at("text"));
    for (auto& s : read_inp(testdata_dir() / "tokenizer/llamacpp-vocab/ggml-vocab-llama-spm.gguf.inp")) out.push_back(s);
    return out;
}

// The HF twins' tokenizer.json (transformers' LlamaConverter output) and the GGUF
// SentencePiece vocab tokenize identically (hf/README.md: 472 strings x 7 folders,
// llama-tokenize vs transformers.js, with and without BOS). Our BPE and our SPM
// paths must agree the same way.
void check_hf_vs_gguf(const std::string& hf_dir, const std::string& gguf, const std::vector<std::string>& texts) {
    const Tokenizer& hf = hf_tokenizer(hf_dir);
    const Tokenizer& gg = gguf_tokenizer(gguf);
    size_t pass = 0;
    for (const std::string& t : texts) {
        for (bool add_special : {false, true}) {
            const auto a = hf.encode(t, add_special, true);
            const auto b = gg.encode(t, add_special, true);
            EXPECT_EQ(ids_str(a), ids_str(b)) << "text: '" << t << "' add_special " << add_special;
            pass += a == b;
        }
        EXPECT_EQ(hf.decode(hf.encode(t, true, true), true), gg.decode(gg.encode(t, true, true), true)) << t;
    }
    EXPECT_EQ(pass, texts.size() * 2);
    std::printf("[ cross    ] %s vs %s: %zu/%zu\n", hf_dir.c_str(), gguf.c_str(), pass, texts.size() * 2);
}

TEST(CrossCheck, Tok512TokenizerJsonVsStoriesGguf) {
    DSM_REQUIRE_TESTDATA();
    check_hf_vs_gguf("hf/dsllm-tiny", "models/stories260K.gguf", corpus_texts());
}

TEST(CrossCheck, KjvTokenizerJsonVsKjvGguf) {
    DSM_REQUIRE_TESTDATA();
    auto texts = corpus_texts();
    std::istringstream verses(read_file(testdata_dir() / "text/kjv-heldout.txt"));
    std::string chunk, line;
    for (int i = 0; std::getline(verses, line); ++i) {
        texts.push_back(line);
        chunk += line + "\n";
        if (i % 5 == 4) texts.push_back(std::exchange(chunk, std::string()));
    }
    check_hf_vs_gguf("hf/kjv-llama", "models/kjv-llama.f32.gguf", texts);
}

// The converter path for SentencePiece models: tokenizer.json -> VocabSpec gives the
// GGUF's tokens and types (hf/README.md section 8), and the same tokenization.
TEST(Converter, KjvTokenizerJsonToLlamaVocab) {
    DSM_REQUIRE_TESTDATA();
    const VocabSpec spec = hf_tokenizer("hf/kjv-llama").to_vocab_spec();
    const auto file = gguf::File::open((testdata_dir() / "models/kjv-llama.f32.gguf").string());
    const VocabSpec ref = vocab_from_gguf(*file);
    EXPECT_EQ(spec.model, "llama");
    EXPECT_EQ(spec.tokens, ref.tokens);
    EXPECT_EQ(spec.token_types, ref.token_types);
    EXPECT_EQ(spec.bos, ref.bos);
    EXPECT_EQ(spec.eos, ref.eos);
    EXPECT_EQ(spec.unk, ref.unk);
    EXPECT_EQ(spec.add_bos, true);
    EXPECT_EQ(spec.add_space_prefix, true);
    const auto converted = Tokenizer::from_vocab(spec);
    const Tokenizer& gg = gguf_tokenizer("models/kjv-llama.f32.gguf");
    size_t pass = 0;
    const auto texts = corpus_texts();
    for (const std::string& t : texts) pass += converted->encode(t, true, true) == gg.encode(t, true, true);
    EXPECT_EQ(pass, texts.size());
}

TEST(Gguf, VocabMetadata) {
    DSM_REQUIRE_TESTDATA();
    const auto file = gguf::File::open((testdata_dir() / "tokenizer/llamacpp-vocab/ggml-vocab-deepseek-llm.gguf").string());
    const VocabSpec s = vocab_from_gguf(*file);
    EXPECT_EQ(s.model, "gpt2");
    EXPECT_EQ(s.pre, "deepseek-llm");
    EXPECT_EQ(s.tokens.size(), 102400u);
    EXPECT_EQ(s.merges.size(), 99757u);
    EXPECT_EQ(s.merges[1], "\xC4\xA0 t");  // "Ġ t"
    EXPECT_EQ(s.bos, 100000);
    EXPECT_EQ(s.eos, 100001);
    EXPECT_EQ(s.pad, 100001);
    EXPECT_EQ(s.add_bos, true);
    EXPECT_EQ(s.add_eos, false);
    // stories260K stores padding_token_id = 0xFFFFFFFF: no padding token.
    const auto stories = gguf::File::open((testdata_dir() / "models/stories260K.gguf").string());
    EXPECT_EQ(vocab_from_gguf(*stories).pad, -1);
}

TEST(SpecialTokens, BosEosAndEndOfGeneration) {
    DSM_REQUIRE_TESTDATA();
    const Tokenizer& v3 = hf_tokenizer("tokenizer/hf/deepseek-v3");
    EXPECT_EQ(v3.n_vocab(), 128815);
    EXPECT_EQ(v3.bos(), 0);
    EXPECT_EQ(v3.eos(), 1);
    EXPECT_TRUE(v3.add_bos());
    EXPECT_EQ(v3.eot(), 1);  // <｜end▁of▁sentence｜> ends DeepSeek's turns
    EXPECT_TRUE(v3.is_end_of_generation(1));
    EXPECT_TRUE(v3.is_end_of_generation(128805));  // <|EOT|>
    EXPECT_FALSE(v3.is_end_of_generation(0));
    EXPECT_FALSE(v3.chat_template().empty());

    const Tokenizer& qwen = hf_tokenizer("tokenizer/hf/qwen3");
    EXPECT_EQ(qwen.bos(), -1);
    EXPECT_FALSE(qwen.add_bos());
    EXPECT_EQ(qwen.eos(), 151645);  // <|im_end|>
    EXPECT_EQ(qwen.eot(), 151645);
    EXPECT_TRUE(qwen.is_end_of_generation(151645));
    EXPECT_TRUE(qwen.is_end_of_generation(151643));  // <|endoftext|>
    EXPECT_EQ(qwen.encode("hi", true, true), qwen.encode("hi", false, true));

    const Tokenizer& coder = gguf_tokenizer("tokenizer/llamacpp-vocab/ggml-vocab-deepseek-coder.gguf");
    EXPECT_TRUE(coder.add_bos());
    EXPECT_EQ(coder.encode("", true, false), std::vector<int32_t>{32013});
    EXPECT_TRUE(coder.is_end_of_generation(32014));
    EXPECT_TRUE(coder.is_end_of_generation(32021));  // <|EOT|>, deepseek-coder-instruct's end of turn
}

TEST(SpecialTokens, ParseSpecialOnlyWhenAsked) {
    DSM_REQUIRE_TESTDATA();
    const Tokenizer& v3 = hf_tokenizer("tokenizer/hf/deepseek-v3");
    const std::string bos_text = "<\xEF\xBD\x9C" "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";  // <｜begin▁of▁sentence｜>
    const auto parsed = v3.encode(bos_text + "hi", false, true);
    ASSERT_FALSE(parsed.empty());
    EXPECT_EQ(parsed[0], 0);
    const auto literal = v3.encode(bos_text + "hi", false, false);
    EXPECT_GT(literal.size(), 3u);
    EXPECT_EQ(std::count(literal.begin(), literal.end(), 0), 0);
    EXPECT_EQ(v3.decode(literal), bos_text + "hi");
    EXPECT_EQ(v3.decode(parsed, true), "hi");  // skip_special drops BOS
    // <｜User｜> is an added token that is not special: matched in both modes.
    const std::string user = "<\xEF\xBD\x9CUser\xEF\xBD\x9C>";
    EXPECT_EQ(v3.encode(user, false, false), std::vector<int32_t>{128803});
    EXPECT_EQ(v3.encode(user, false, true), std::vector<int32_t>{128803});

    // SentencePiece from GGUF: "<s>" is a control token.
    const Tokenizer& spm = gguf_tokenizer("models/stories260K.gguf");
    EXPECT_EQ(spm.encode("<s>", false, true), std::vector<int32_t>{1});
    EXPECT_NE(spm.encode("<s>", false, false), std::vector<int32_t>{1});
}

TEST(Decode, PiecesAndSpaces) {
    DSM_REQUIRE_TESTDATA();
    const Tokenizer& v3 = hf_tokenizer("tokenizer/hf/deepseek-v3");
    const auto ids = v3.encode(" the", false, false);
    ASSERT_EQ(ids.size(), 1u);
    EXPECT_EQ(v3.token_to_piece(ids[0]), " the");

    const Tokenizer& spm = gguf_tokenizer("models/kjv-llama.f32.gguf");
    EXPECT_EQ(spm.token_to_piece(13), "\n");  // <0x0A>
    const auto hello = spm.encode("And God", true, true);
    EXPECT_EQ(spm.token_to_piece(hello[1]), " And");
    EXPECT_EQ(spm.decode(hello, true), "And God");          // the prefix space is removed
    EXPECT_EQ(spm.decode(hello, false), "<s> And God");     // as tokenizers prints it
    EXPECT_THROW(spm.decode(std::vector<int32_t>{5000}), Error);
    EXPECT_THROW(spm.token_to_piece(-1), Error);
    EXPECT_EQ(spm.decode(std::vector<int32_t>{}), "");
}

// A character spread over byte-fallback tokens is emitted only once complete.
TEST(Decode, StreamHoldsPartialCharacters) {
    DSM_REQUIRE_TESTDATA();
    const Tokenizer& spm = gguf_tokenizer("models/stories260K.gguf");
    const std::string text = "Hi \xF0\x9F\x98\x80 and \xE4\xB8\xAD!";  // emoji, CJK: byte tokens in tok512
    const auto ids = spm.encode(text, true, true);
    StreamDecoder stream(spm, true);
    std::string out;
    size_t held = 0;
    for (int32_t id : ids) {
        const std::string piece = stream.push(id);
        EXPECT_TRUE(tok::utf8_valid(piece));
        EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << "half a character emitted";
        held += piece.empty();
        out += piece;
    }
    out += stream.flush();
    EXPECT_EQ(out, text);
    EXPECT_GE(held, 3u);  // the emoji's first three bytes and more were held back
    // An unfinished character at the end comes out of flush() as U+FFFD.
    StreamDecoder cut(spm);
    EXPECT_EQ(cut.push(3 + 0xE4), "");
    EXPECT_EQ(cut.flush(), "\xEF\xBF\xBD");
}

TEST(Input, InvalidUtf8IsRepaired) {
    DSM_REQUIRE_TESTDATA();
    for (const char* dir : {"tokenizer/hf/deepseek-v3", "tokenizer/hf/qwen2.5"}) {
        const Tokenizer& t = hf_tokenizer(dir);
        const std::string fffd = "\xEF\xBF\xBD";
        EXPECT_EQ(t.encode("a\xFF" "b", false, true), t.encode("a" + fffd + "b", false, true)) << dir;
        EXPECT_EQ(t.encode("\xE4\xB8", false, true), t.encode(fffd, false, true)) << dir;  // truncated: one U+FFFD
        EXPECT_EQ(t.encode("\xED\xA0\x80x", false, true), t.encode(fffd + fffd + fffd + "x", false, true)) << dir;
        EXPECT_EQ(t.decode(t.encode("x\xC0\xAFy", false, true)), "x" + fffd + fffd + "y") << dir;
    }
    const Tokenizer& spm = gguf_tokenizer("models/stories260K.gguf");
    EXPECT_EQ(spm.decode(spm.encode("ok\x80", true, true), true), "ok\xEF\xBF\xBD");
}

TEST(Input, EmptyText) {
    DSM_REQUIRE_TESTDATA();
    const Tokenizer& v3 = hf_tokenizer("tokenizer/hf/deepseek-v3");
    EXPECT_TRUE(v3.encode("", false, true).empty());
    EXPECT_EQ(v3.encode("", true, true), std::vector<int32_t>{0});
    const Tokenizer& spm = gguf_tokenizer("models/kjv-llama.f32.gguf");
    EXPECT_TRUE(spm.encode("", false, true).empty());
    EXPECT_EQ(spm.encode("", true, true), std::vector<int32_t>{1});
}

// One piece of a million characters: BPE and SPM must stay O(n log n).
TEST(Input, OneMegabyteWithoutSpaces) {
    DSM_REQUIRE_TESTDATA();
    struct Case {
        const char* name;
        const Tokenizer& tok;
        std::string text;
    };
    std::string cjk;
    while (cjk.size() < (1 << 20)) cjk += "\xE4\xB8\xAD\xE6\x96\x87";  // 中文
    std::string digits;
    for (size_t i = 0; digits.size() < (1 << 20); ++i) digits += char('0' + (i * 7) % 10);
    const Case cases[] = {
        {"deepseek-v3 letters", hf_tokenizer("tokenizer/hf/deepseek-v3"), std::string(1 << 20, 'a')},
        {"deepseek-v3 CJK", hf_tokenizer("tokenizer/hf/deepseek-v3"), cjk},
        {"qwen2.5 digits", hf_tokenizer("tokenizer/hf/qwen2.5"), digits},
        {"deepseek-llm letters", gguf_tokenizer("tokenizer/llamacpp-vocab/ggml-vocab-deepseek-llm.gguf"),
         std::string(1 << 20, 'x')},
        {"llama-spm letters", gguf_tokenizer("tokenizer/llamacpp-vocab/ggml-vocab-llama-spm.gguf"),
         std::string(1 << 20, 'a')},
        {"tok512 BPE CJK", hf_tokenizer("hf/dsllm-tiny"), cjk},
    };
    for (const Case& c : cases) {
        const auto t0 = std::chrono::steady_clock::now();
        const auto ids = c.tok.encode(c.text, false, false);
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        EXPECT_LT(s, 3.0) << c.name;
        EXPECT_FALSE(ids.empty()) << c.name;
        EXPECT_EQ(c.tok.decode(ids), c.text) << c.name;
        std::printf("[ 1 MB     ] %s: %zu tokens in %.3f s\n", c.name, ids.size(), s);
    }
}

}  // namespace
}  // namespace dsm::test
