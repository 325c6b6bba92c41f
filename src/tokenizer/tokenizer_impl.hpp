// Internals of dsm::Tokenizer shared by the encoder (tokenizer.cpp) and the two
// loaders (hf_loader.cpp, gguf_vocab.cpp). Not part of the public API.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tokenizer/models.hpp"
#include "tokenizer/pipeline.hpp"
#include "tokenizer/tokenizer.hpp"

namespace dsm::tok {

struct TokenEntry {
    std::string text;  // as stored in the vocab (byte-level or "▁" spelling), or the added token's content
    float score = 0.0f;
    int32_t type = Tokenizer::kNormal;
    bool added = false;    // matched in the text before the model runs; decoded as written
    bool special = false;  // matched only with parse_special; dropped by skip_special
};

struct AddedToken {
    int32_t id = -1;
    std::string content;
    bool special = false;
    bool lstrip = false;
    bool rstrip = false;
    bool single_word = false;
    bool normalized = false;
};

// Finds added tokens in text: leftmost-longest, then single_word / lstrip / rstrip
// as Hugging Face tokenizers does.
class AddedTokenMatcher {
public:
    struct Segment {
        size_t begin;
        size_t end;
        int32_t id;  // -1: plain text
    };
    void add(AddedToken token);  // contents must be non-empty
    bool empty() const { return tokens_.empty(); }
    // Cuts `text` into plain-text and token segments that cover it in order (text
    // removed by lstrip/rstrip belongs to the token's segment).
    void split(std::string_view text, bool parse_special, std::vector<Segment>& out) const;

private:
    struct Node {
        int32_t token = -1;  // index into tokens_ if a token ends here
        std::vector<std::pair<uint8_t, int32_t>> kids;
    };
    int32_t child(int32_t node, uint8_t b) const;
    std::vector<AddedToken> tokens_;
    std::vector<Node> nodes_{Node{}};
    std::vector<int32_t> root_kids_ = std::vector<int32_t>(256, -1);
};

// The llama.cpp pre-tokenizer name (tokenizer.ggml.pre) whose split regexes are
// `regexes` ("" if none); `byte_level` distinguishes GPT-2's own regex.
std::string pre_tokenizer_name(const std::vector<std::string>& regexes, bool byte_level);

}  // namespace dsm::tok

namespace dsm {

struct Tokenizer::Impl {
    std::vector<tok::TokenEntry> tokens;  // by id
    tok::VocabMap vocab;                   // model vocabulary: text -> id
    std::vector<float> scores;             // by id (SentencePiece)
    std::unique_ptr<tok::BpeModel> bpe;    // exactly one of bpe / spm
    std::unique_ptr<tok::SpmModel> spm;

    tok::AddedTokenMatcher raw_added;         // matched before normalization
    tok::AddedTokenMatcher normalized_added;  // matched in normalized text
    std::vector<std::unique_ptr<tok::Normalizer>> normalizers;
    std::vector<std::unique_ptr<tok::PreTokenizer>> pre_tokenizers;
    std::vector<std::unique_ptr<tok::Decoder>> decoders;  // empty: join tokens with spaces
    bool has_decoder = false;
    bool clean_up_spaces = false;

    int32_t bos = -1, eos = -1, eot = -1, unk = -1, pad = -1;
    std::vector<int32_t> prefix, suffix;  // added with add_special
    std::vector<int32_t> eog;             // sorted
    std::string chat_template;
    std::string pre_name;  // llama.cpp name of the pre-tokenizer ("" if none matches)
    bool byte_level = false;        // GPT-2 byte-level BPE
    bool spm_space_prefix = false;  // SentencePiece-style: a "▁" is put before the text

    // Fills eot (if unset) and the end-of-generation set from eos/eot and
    // well-known end-of-turn token texts.
    void finish_special_tokens();
    // Marks the added tokens in `tokens` and puts them into the matchers (call after
    // the normalizers are set).
    void register_added_tokens(const std::vector<tok::AddedToken>& added);
    void normalize(std::string& text) const;  // runs the normalizers

    // Pieces repeat a lot in real text: within one encode() call, each distinct
    // piece's ids are remembered as a range of the output.
    using PieceCache = std::unordered_map<std::string, std::pair<size_t, size_t>, tok::StringHash, std::equal_to<>>;

    std::string decode_raw(std::span<const int32_t> ids, bool skip_special, bool at_start) const;
    void encode_segment(std::string_view text, bool at_start, bool parse_special, PieceCache& cache,
                        std::vector<int32_t>& out) const;
    void encode_text(std::string_view text, bool at_start, PieceCache& cache, std::vector<int32_t>& out) const;
};

}  // namespace dsm
