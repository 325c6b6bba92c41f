// Component tests. Expected values come from Hugging Face tokenizers' own
// documentation and unit tests (split behaviours, Metaspace, Digits, added-token
// options) and from the Unicode standard (UTF-8 repair, White_Space).
#include <gtest/gtest.h>

#include "core/error.hpp"
#include "tokenizer/pipeline.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace dsm::tok {
namespace {

std::vector<std::string> pieces_after(const PreTokenizer& pt, const std::string& text) {
    PreTokenized p;
    p.text = text;
    p.spans.push_back({0, uint32_t(text.size())});
    pt.apply(p);
    if (p.byte_level) p.materialize_byte_level();
    std::vector<std::string> out;
    for (const Span& s : p.spans) out.emplace_back(p.piece(s));
    return out;
}

using Strings = std::vector<std::string>;

// tokenizers' SplitDelimiterBehavior documentation, input "the-final--countdown".
TEST(PreTokenizer, SplitBehaviors) {
    const std::string text = "the-final--countdown";
    auto split = [&](SplitBehavior b, bool invert = false) {
        return pieces_after(*make_split(Pattern::literal("-"), b, invert), text);
    };
    EXPECT_EQ(split(SplitBehavior::Removed), (Strings{"the", "final", "countdown"}));
    EXPECT_EQ(split(SplitBehavior::Isolated), (Strings{"the", "-", "final", "-", "-", "countdown"}));
    EXPECT_EQ(split(SplitBehavior::MergedWithPrevious), (Strings{"the-", "final-", "-", "countdown"}));
    EXPECT_EQ(split(SplitBehavior::MergedWithNext), (Strings{"the", "-final", "-", "-countdown"}));
    EXPECT_EQ(split(SplitBehavior::Contiguous), (Strings{"the", "-", "final", "--", "countdown"}));
    // invert: the words are the delimiters.
    EXPECT_EQ(pieces_after(*make_split(Pattern::regex("[a-z]+"), SplitBehavior::Removed, true), text),
              (Strings{"the", "final", "countdown"}));
    EXPECT_EQ(pieces_after(*make_split(Pattern::regex("-"), SplitBehavior::Isolated, false), text),
              (Strings{"the", "-", "final", "-", "-", "countdown"}));
}

// Oniguruma's \s is Unicode White_Space: U+0085 is a space, U+FEFF is not.
TEST(Regex, OnigurumaWhiteSpace) {
    std::vector<Regex::Range> m;
    Regex("\\s+").find_all("a\xC2\x85" "b\xEF\xBB\xBF" "c\xE3\x80\x80" "d", m);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0], (Regex::Range{1, 3}));  // U+0085
    EXPECT_EQ(m[1], (Regex::Range{8, 11}));  // U+3000
    m.clear();
    Regex("[^\\s\\p{L}]+").find_all("x\xC2\x85\xEF\xBB\xBF" "1", m);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0], (Regex::Range{3, 7}));  // U+FEFF and "1", not U+0085
    // U+180E left White_Space in Unicode 6.3; PCRE2's own \s still matches it.
    m.clear();
    Regex("\\s").find_all("\xE1\xA0\x8E", m);
    EXPECT_TRUE(m.empty());
    EXPECT_EQ(onig_to_pcre2("\\S[\\s]\\\\s"), "[^\\t-\\r\\x{85}\\p{Z}][\\t-\\r\\x{85}\\p{Z}]\\\\s");
    EXPECT_THROW(Regex("(unclosed"), Error);
}

// tokenizers' metaspace.rs test "multiple_spaces".
TEST(PreTokenizer, Metaspace) {
    EXPECT_EQ(pieces_after(*make_metaspace("\xE2\x96\x81", PrependScheme::Always, true), "Hey   friend!"),
              (Strings{"\xE2\x96\x81Hey", "\xE2\x96\x81", "\xE2\x96\x81", "\xE2\x96\x81" "friend!"}));
    EXPECT_EQ(pieces_after(*make_metaspace("\xE2\x96\x81", PrependScheme::Never, false), "a b"),
              (Strings{"a\xE2\x96\x81" "b"}));
}

// tokenizers' digits.rs tests.
TEST(PreTokenizer, Digits) {
    EXPECT_EQ(pieces_after(*make_digits(false), "Hey 123 friend!"), (Strings{"Hey ", "123", " friend!"}));
    EXPECT_EQ(pieces_after(*make_digits(true), "Hey 123 friend!"), (Strings{"Hey ", "1", "2", "3", " friend!"}));
}

// GPT-2 byte-level: split with the GPT-2 regex, spaces become "Ġ".
TEST(PreTokenizer, ByteLevel) {
    EXPECT_EQ(pieces_after(*make_byte_level(true, true), "Hello my friend"),
              (Strings{"\xC4\xA0Hello", "\xC4\xA0my", "\xC4\xA0" "friend"}));
    EXPECT_EQ(pieces_after(*make_byte_level(false, false), "a\nb"), (Strings{"a\xC4\x8A" "b"}));
}

// tokenizers' added_vocabulary.rs tests (inputs given already lowercased, as its
// Lowercase normalizer would leave them).
std::vector<std::pair<std::string, int32_t>> split_added(const AddedTokenMatcher& m, const std::string& text) {
    std::vector<AddedTokenMatcher::Segment> segs;
    m.split(text, true, segs);
    std::vector<std::pair<std::string, int32_t>> out;
    for (const auto& s : segs) out.emplace_back(text.substr(s.begin, s.end - s.begin), s.id);
    return out;
}

AddedToken added(int32_t id, std::string content, bool lstrip = false, bool rstrip = false, bool single_word = false) {
    AddedToken t;
    t.id = id;
    t.content = std::move(content);
    t.lstrip = lstrip;
    t.rstrip = rstrip;
    t.single_word = single_word;
    return t;
}

TEST(AddedTokens, OptionsUseCases) {
    AddedTokenMatcher m;
    m.add(added(0, "my", true, true));
    m.add(added(1, "name"));
    m.add(added(2, "ony", false, false, true));
    m.add(added(3, "[CLS]"));
    m.add(added(4, "[SEP]"));
    using P = std::vector<std::pair<std::string, int32_t>>;
    EXPECT_EQ(split_added(m, "[CLS] my name is anthony [SEP]"),
              (P{{"[CLS]", 3}, {" my ", 0}, {"name", 1}, {" is anthony ", -1}, {"[SEP]", 4}}));
}

TEST(AddedTokens, SingleWordAndUnicodeSpaces) {
    AddedTokenMatcher mask;
    mask.add(added(0, "<mask>", false, false, true));
    using P = std::vector<std::pair<std::string, int32_t>>;
    EXPECT_EQ(split_added(mask, "<mask> my name <mask> a<mask> <mask>ony <mask>"),
              (P{{"<mask>", 0}, {" my name ", -1}, {"<mask>", 0}, {" a<mask> <mask>ony ", -1}, {"<mask>", 0}}));
    AddedTokenMatcher strip;
    strip.add(added(0, "<mask>", true, true, true));
    EXPECT_EQ(split_added(strip, "hi <mask> there\t<mask>\t<mask>\xE2\x80\x80"),
              (P{{"hi", -1}, {" <mask> ", 0}, {"there", -1}, {"\t<mask>\t", 0}, {"<mask>\xE2\x80\x80", 0}}));
    // Leftmost, then longest.
    AddedTokenMatcher lm;
    lm.add(added(0, "ab"));
    lm.add(added(1, "abc"));
    lm.add(added(2, "bcd"));
    EXPECT_EQ(split_added(lm, "xabcd"), (P{{"x", -1}, {"abc", 1}, {"d", -1}}));
}

// Unicode ch. 3 "U+FFFD substitution of maximal subparts" examples.
TEST(Utf8, MaximalSubpartRepair) {
    const std::string r = "\xEF\xBF\xBD";
    EXPECT_EQ(utf8_sanitize("\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64"),
              "a" + r + r + r + "b" + r + "c" + r + r + "d");
    EXPECT_EQ(utf8_sanitize("\xC0\xAF\xE0\x80\xBF\xF0\x81\x82\x41"), r + r + r + r + r + r + r + r + "A");
    EXPECT_EQ(utf8_sanitize("\xED\xA0\x80\xED\xBF\xBF\xED\xAF\x41"), r + r + r + r + r + r + r + r + "A");
    EXPECT_TRUE(utf8_valid("\xF4\x8F\xBF\xBF"));  // U+10FFFF
    EXPECT_FALSE(utf8_valid("\xF4\x90\x80\x80"));
    EXPECT_EQ(utf8_complete_prefix("ab\xE4\xB8"), 2u);
    EXPECT_EQ(utf8_complete_prefix("ab\xE4\xB8\xAD"), 5u);
    EXPECT_EQ(utf8_complete_prefix("ab\xFF"), 3u);  // invalid, not incomplete
    EXPECT_EQ(codepoint_to_byte(0x120), ' ');  // "Ġ"
    for (int b = 0; b < 256; ++b) EXPECT_EQ(codepoint_to_byte(byte_to_codepoint(uint8_t(b))), b);
}

// A small tokenizer.json exercising the SentencePiece-style decoders and byte fallback.
const char* kTinySpm = R"({
  "added_tokens": [{"id": 0, "content": "<unk>", "special": true, "normalized": false},
                   {"id": 1, "content": "<s>", "special": true, "normalized": false}],
  "normalizer": {"type": "Sequence", "normalizers": [{"type": "Prepend", "prepend": "▁"},
                 {"type": "Replace", "pattern": {"String": " "}, "content": "▁"}]},
  "pre_tokenizer": null,
  "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                     {"Sequence": {"id": "A", "type_id": 0}}], "special_tokens": {"<s>": {"id": "<s>", "ids": [1]}}},
  "decoder": {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "▁"}, "content": " "},
              {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
  "model": {"type": "BPE", "unk_token": "<unk>", "fuse_unk": true, "byte_fallback": true,
            "vocab": {"<unk>": 0, "<s>": 1, "<0xC3>": 2, "<0xA9>": 3, "▁": 4, "a": 5, "b": 6, "▁a": 7, "ab": 8, "▁ab": 9},
            "merges": [["a", "b"], "▁ a", "▁ ab", "▁a b"]}
})";

TEST(HfJson, TinySentencePieceBpe) {
    const auto t = Tokenizer::from_hf_json(kTinySpm, "");
    EXPECT_TRUE(t->add_bos());
    EXPECT_EQ(t->encode("ab", true, true), (std::vector<int32_t>{1, 9}));
    // "é" has no piece: byte fallback; "zz" has no byte tokens: one fused unk.
    EXPECT_EQ(t->encode("a\xC3\xA9zz", false, true), (std::vector<int32_t>{7, 2, 3, 0}));
    EXPECT_EQ(t->decode(std::vector<int32_t>{1, 9, 4, 5}, true), "ab a");
    EXPECT_EQ(t->decode(std::vector<int32_t>{7, 2, 3}), "a\xC3\xA9");
    EXPECT_EQ(t->token_to_piece(9), " ab");
    EXPECT_EQ(t->token_to_piece(2), "\xC3");
    const VocabSpec spec = t->to_vocab_spec();
    EXPECT_EQ(spec.model, "llama");
    EXPECT_EQ(spec.token_types, (std::vector<int32_t>{2, 3, 6, 6, 1, 1, 1, 1, 1, 1}));
}

TEST(HfJson, MalformedInputThrows) {
    const char* bad[] = {
        "", "not json", "[]", R"({"model": 5})", R"({"model": {"type": "Unigram", "vocab": []}})",
        R"({"model": {"vocab": {"a": -1}, "merges": []}})",
        R"({"model": {"vocab": {"a": 0}, "merges": [7]}})",
        R"({"model": {"vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "Precompiled"}})",
        R"({"model": {"vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "("}, "behavior": "Isolated"}})",
        R"({"model": {"vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 99999999, "content": "x"}]})",
        R"({"model": {"vocab": {"a": 0}, "merges": []}, "decoder": {"type": "Sequence", "decoders": {}}})",
    };
    for (const char* j : bad) EXPECT_THROW(Tokenizer::from_hf_json(j, ""), Error) << j;
    EXPECT_THROW(Tokenizer::from_hf_json(kTinySpm, "{"), Error);
    EXPECT_THROW(Tokenizer::from_hf_files("/nonexistent/tokenizer.json", ""), Error);
}

TEST(Vocab, BadSpecsThrow) {
    VocabSpec s;
    EXPECT_THROW(Tokenizer::from_vocab(s), Error);  // no tokens
    s.tokens = {"a", "b"};
    s.model = "bert";
    EXPECT_THROW(Tokenizer::from_vocab(s), Error);
    s.model = "gpt2";
    s.pre = "no-such-pre";
    EXPECT_THROW(Tokenizer::from_vocab(s), Error);
    s.pre = "gpt-2";
    s.add_bos = true;  // but no BOS id
    EXPECT_THROW(Tokenizer::from_vocab(s), Error);
    s.add_bos = false;
    s.scores = {0.0f};  // fewer scores than tokens
    EXPECT_THROW(Tokenizer::from_vocab(s), Error);
    s.scores.clear();
    s.merges = {"a b"};
    const auto t = Tokenizer::from_vocab(s);
    EXPECT_EQ(t->n_vocab(), 2);
    EXPECT_EQ(t->encode("ab", true, true), (std::vector<int32_t>{0, 1}));  // "ab" is not a token: no merge
}

// llama.cpp decodes "gpt-2" vocabularies with clean_up_tokenization_spaces (as
// transformers' clean_up_tokenization does); DeepSeek and Qwen ones without.
TEST(Vocab, CleanUpTokenizationSpaces) {
    VocabSpec s;
    s.model = "gpt2";
    s.pre = "gpt-2";
    s.tokens = {"a", "\xC4\xA0", ".", "'s", "\xC4\xA0?"};  // a, space, ., 's, " ?"
    const auto t = Tokenizer::from_vocab(s);
    EXPECT_EQ(t->decode(std::vector<int32_t>{0, 1, 2, 1, 3, 4}), "a.'s?");
    s.pre = "deepseek-llm";
    EXPECT_EQ(Tokenizer::from_vocab(s)->decode(std::vector<int32_t>{0, 1, 2, 1, 3, 4}), "a . 's ?");
}

TEST(HfJson, UnknownPreTokenizerHasNoGgufName) {
    const auto t = Tokenizer::from_hf_json(R"({"model": {"vocab": {"a": 0}, "merges": []},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "x+"}, "behavior": "Isolated"},
            {"type": "ByteLevel", "add_prefix_space": false, "use_regex": false}]}})", "");
    EXPECT_EQ(t->encode("a", false, false), std::vector<int32_t>{0});
    EXPECT_THROW(t->to_vocab_spec(), Error);
}

}  // namespace
}  // namespace dsm::tok
