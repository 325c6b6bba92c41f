// Tokenizer models: rank-ordered BPE (Hugging Face / GPT-2 byte-level, and
// SentencePiece-converted BPE with byte fallback) and llama.cpp's score-ordered
// SentencePiece merge (llm_tokenizer_spm). Both run in O(n log n) on a piece of n
// characters. Internal to src/tokenizer/.
#pragma once
#include <array>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace dsm::tok {

struct StringHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
// Token text -> id, searchable with a string_view.
using VocabMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

// Open-addressing map from a pair of token ids to (rank, merged id).
class MergeTable {
public:
    struct Value {
        int32_t rank;
        int32_t merged;
    };
    // Keeps the first value given for a pair.
    void insert(int32_t left, int32_t right, Value v);
    const Value* find(int32_t left, int32_t right) const;

private:
    void reserve(size_t n);
    static uint64_t key(int32_t l, int32_t r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }
    void grow();
    // Key and value side by side: a lookup touches one cache line.
    struct Slot {
        uint64_t key;
        Value value;
    };
    std::vector<Slot> slots_;
    size_t size_ = 0;
};

class BpeModel {
public:
    struct Options {
        bool byte_fallback = false;  // unknown characters become <0xXX> byte tokens
        bool fuse_unk = false;       // consecutive unknown characters give one unk
        bool ignore_merges = false;  // a piece that is itself in the vocab is not merged
        int32_t unk = -1;
    };
    // `vocab` must outlive the model.
    BpeModel(const VocabMap& vocab, Options opt);

    // Adds the next merge in priority order; returns false (and ignores it) when
    // either part or their concatenation is not in the vocab.
    bool add_merge(std::string_view left, std::string_view right);
    // Merges in rank order as (left id, right id).
    const std::vector<std::pair<int32_t, int32_t>>& merges() const { return merges_; }
    const Options& options() const { return opt_; }

    // Appends the ids of one piece. With `byte_level`, the piece holds raw bytes
    // that are read in the GPT-2 byte alphabet.
    void encode(std::string_view piece, bool byte_level, std::vector<int32_t>& out) const;

private:
    static constexpr int32_t kShortPiece = 24;  // pieces up to this many symbols use merge_short
    void push_initial(std::string_view unit, std::vector<int32_t>& ids, std::vector<bool>& is_unk) const;
    void merge_short(std::vector<int32_t>& ids, std::vector<int32_t>& out) const;

    const VocabMap& vocab_;
    Options opt_;
    MergeTable table_;
    std::vector<std::pair<int32_t, int32_t>> merges_;
    std::array<int32_t, 256> byte_char_id_{};   // id of each byte's byte-alphabet character
    std::array<int32_t, 256> byte_token_id_{};  // id of "<0xXX>"
};

class SpmModel {
public:
    // `vocab` and `scores` (indexed by id) must outlive the model.
    SpmModel(const VocabMap& vocab, const std::vector<float>& scores, int32_t unk);
    // Appends the ids of `text` (spaces already escaped as U+2581).
    void encode(std::string_view text, std::vector<int32_t>& out) const;

private:
    const VocabMap& vocab_;
    const std::vector<float>& scores_;
    int32_t unk_;
    std::array<int32_t, 256> byte_id_{};  // "<0xXX>", else the single-byte token, else -1
};

}  // namespace dsm::tok
