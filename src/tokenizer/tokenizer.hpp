// Text <-> token ids, exact against llama.cpp (GGUF vocabularies) and Hugging Face
// tokenizers (tokenizer.json).
//
// Two sources, one pipeline: added/special tokens are cut out first, the rest is
// normalized, pre-tokenized (regex splits, byte-level mapping, ...) and run through
// the model (rank-ordered BPE, or llama.cpp's score-ordered SentencePiece merge).
// Decoding turns ids back into bytes and repairs invalid UTF-8 with U+FFFD.
//
// Input text that is not valid UTF-8 is repaired first: each invalid sequence
// becomes U+FFFD (maximal-subpart rule), so encode() never fails on user text.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dsm {

namespace gguf {
class File;
}

// What a GGUF file's tokenizer.ggml.* metadata holds.
struct VocabSpec {
    std::string model;  // tokenizer.ggml.model: "llama" (SentencePiece) | "gpt2" (byte-level BPE)
    std::string pre;    // tokenizer.ggml.pre: "default", "deepseek-llm", "deepseek-coder", "deepseek-v3", ...
    std::vector<std::string> tokens;
    std::vector<float> scores;
    std::vector<int32_t> token_types;  // 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte
    std::vector<std::string> merges;   // "left right", byte-level spelling
    int32_t bos = -1, eos = -1, eot = -1, unk = -1, pad = -1;
    std::optional<bool> add_bos, add_eos, add_space_prefix;
    std::string chat_template;
};

// Reads tokenizer.ggml.* and tokenizer.chat_template; throws dsm::Error if the
// token list is missing or a key has the wrong type.
VocabSpec vocab_from_gguf(const gguf::File& file);

class Tokenizer {
public:
    // Token types of VocabSpec::token_types (llama.cpp's llama_token_type).
    enum TokenType : int32_t { kNormal = 1, kUnknown = 2, kControl = 3, kUserDefined = 4, kUnused = 5, kByte = 6 };

    // Unknown model or pre-tokenizer names and inconsistent specs throw dsm::Error.
    static std::unique_ptr<Tokenizer> from_vocab(const VocabSpec& spec);
    static std::unique_ptr<Tokenizer> from_hf_files(const std::string& tokenizer_json_path,
                                                    const std::string& tokenizer_config_path /* may be empty */);
    static std::unique_ptr<Tokenizer> from_hf_json(std::string_view tokenizer_json,
                                                   std::string_view tokenizer_config_json /* may be empty */);
    ~Tokenizer();
    Tokenizer(const Tokenizer&) = delete;
    Tokenizer& operator=(const Tokenizer&) = delete;

    // add_special: add BOS/EOS as the model's config says. parse_special: text such
    // as "<｜User｜>" of a special (control) token becomes that token; non-special
    // added (user-defined) tokens are always matched, as in llama.cpp and HF.
    std::vector<int32_t> encode(std::string_view text, bool add_special, bool parse_special) const;
    // skip_special drops special (control/unknown) tokens. Out-of-range ids throw.
    std::string decode(std::span<const int32_t> ids, bool skip_special = false) const;
    // Raw bytes of one token's text (byte-level and byte tokens decoded, "▁" as a
    // space, no first-token space stripping); may be an incomplete UTF-8 sequence.
    std::string token_to_piece(int32_t id) const;

    int32_t n_vocab() const;
    int32_t bos() const;  // -1 if none
    int32_t eos() const;
    int32_t eot() const;
    int32_t unk() const;
    int32_t pad() const;
    bool is_special(int32_t id) const;             // control/unknown tokens, HF special added tokens
    bool is_end_of_generation(int32_t id) const;   // eos, eot, and similar end tokens
    bool add_bos() const;
    bool add_eos() const;
    const std::string& chat_template() const;

    // For the converter: the tokenizer as llama.cpp's convert_hf_to_gguf.py would
    // embed it (model gpt2/llama, pre name, tokens with types, merges, scores).
    // Throws dsm::Error if the pre-tokenizer matches no llama.cpp name.
    VocabSpec to_vocab_spec() const;

    struct Impl;

private:
    explicit Tokenizer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
    friend class StreamDecoder;
};

// Streaming detokenizer: feed ids one at a time; returns only complete UTF-8 text
// (a character split over several tokens is held back until it is whole), and
// strips SentencePiece's leading space only at the start of the stream.
class StreamDecoder {
public:
    // at_text_start = false: the ids continue earlier text (a generated reply after
    // a prompt), so SentencePiece's leading space is kept.
    explicit StreamDecoder(const Tokenizer& tok, bool skip_special = false, bool at_text_start = true);
    std::string push(int32_t id);
    // Emits whatever is held back (an incomplete character becomes U+FFFD).
    std::string flush();

private:
    void shrink();
    const Tokenizer& tok_;
    bool skip_special_;
    bool at_text_start_;
    std::vector<int32_t> window_;  // ids whose decoded bytes are not all emitted, plus one before them
    size_t emitted_ = 0;           // bytes of decode(window_) already returned
};

}  // namespace dsm
