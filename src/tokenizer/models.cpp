#include "tokenizer/models.hpp"

#include <algorithm>
#include <climits>

#include "tokenizer/unicode.hpp"

namespace dsm::tok {

// ---- MergeTable -----------------------------------------------------------

namespace {
constexpr uint64_t kEmpty = ~uint64_t(0);  // ids are non-negative, so no real key has both halves set

size_t slot_of(uint64_t key, size_t mask) { return size_t((key * 0x9E3779B97F4A7C15ull) >> 20) & mask; }
}  // namespace

void MergeTable::reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap *= 2;
    if (cap <= slots_.size()) return;
    std::vector<Slot> old(cap, Slot{kEmpty, {}});
    old.swap(slots_);
    size_ = 0;
    for (const Slot& s : old)
        if (s.key != kEmpty) insert(int32_t(s.key >> 32), int32_t(uint32_t(s.key)), s.value);
}

void MergeTable::grow() { reserve(slots_.empty() ? 8 : slots_.size()); }

void MergeTable::insert(int32_t left, int32_t right, Value v) {
    if ((size_ + 1) * 2 > slots_.size()) grow();
    const uint64_t k = key(left, right);
    const size_t mask = slots_.size() - 1;
    for (size_t i = slot_of(k, mask);; i = (i + 1) & mask) {
        if (slots_[i].key == k) return;
        if (slots_[i].key == kEmpty) {
            slots_[i] = {k, v};
            ++size_;
            return;
        }
    }
}

const MergeTable::Value* MergeTable::find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t k = key(left, right);
    const size_t mask = slots_.size() - 1;
    for (size_t i = slot_of(k, mask);; i = (i + 1) & mask) {
        if (slots_[i].key == k) return &slots_[i].value;
        if (slots_[i].key == kEmpty) return nullptr;
    }
}

// ---- BPE ------------------------------------------------------------------

namespace {

int32_t lookup(const VocabMap& vocab, std::string_view s) {
    const auto it = vocab.find(s);
    return it == vocab.end() ? -1 : it->second;
}

std::string byte_token_text(unsigned b) {
    static const char* hex = "0123456789ABCDEF";
    return std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
}

struct BpeScratch {
    struct Sym {
        int32_t id;  // -1 once merged into its left neighbour
        int32_t prev;
        int32_t next;
    };
    struct Entry {
        int32_t rank;
        int32_t pos;
        int32_t left;
        int32_t right;
        int32_t merged;
        // Heap order: lowest rank first, then leftmost.
        bool operator<(const Entry& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::string mapped;
    std::vector<int32_t> ids;
    std::vector<bool> is_unk;
    std::vector<Sym> syms;
    std::vector<Entry> heap;
};

}  // namespace

BpeModel::BpeModel(const VocabMap& vocab, Options opt) : vocab_(vocab), opt_(opt) {
    std::string ch;
    for (unsigned b = 0; b < 256; ++b) {
        ch.clear();
        utf8_append(ch, byte_to_codepoint(uint8_t(b)));
        byte_char_id_[b] = lookup(vocab_, ch);
        byte_token_id_[b] = lookup(vocab_, byte_token_text(b));
    }
}

bool BpeModel::add_merge(std::string_view left, std::string_view right) {
    const int32_t l = lookup(vocab_, left), r = lookup(vocab_, right);
    if (l < 0 || r < 0) return false;
    std::string joined;
    joined.reserve(left.size() + right.size());
    joined.append(left).append(right);
    const int32_t m = lookup(vocab_, joined);
    if (m < 0 || table_.find(l, r)) return false;
    table_.insert(l, r, {int32_t(merges_.size()), m});
    merges_.emplace_back(l, r);
    return true;
}

void BpeModel::push_initial(std::string_view unit, std::vector<int32_t>& ids, std::vector<bool>& is_unk) const {
    if (opt_.byte_fallback) {
        const bool all = std::all_of(unit.begin(), unit.end(), [&](char c) { return byte_token_id_[uint8_t(c)] >= 0; });
        if (all) {
            for (char c : unit) {
                ids.push_back(byte_token_id_[uint8_t(c)]);
                is_unk.push_back(false);
            }
            return;
        }
    }
    if (opt_.unk < 0) return;  // no unk token: the character is dropped (as tokenizers does)
    if (opt_.fuse_unk && !is_unk.empty() && is_unk.back()) return;
    ids.push_back(opt_.unk);
    is_unk.push_back(true);
}

// Short pieces (most words): rescanning a small array of pair ranks is cheaper
// than a heap. Same order: lowest rank first, leftmost on ties.
void BpeModel::merge_short(std::vector<int32_t>& ids, std::vector<int32_t>& out) const {
    constexpr int32_t kNone = INT32_MAX;
    std::array<int32_t, kShortPiece> rank, merged;
    size_t len = ids.size();
    auto pair_at = [&](size_t i) {
        const MergeTable::Value* v = table_.find(ids[i], ids[i + 1]);
        rank[i] = v ? v->rank : kNone;
        merged[i] = v ? v->merged : -1;
    };
    for (size_t i = 0; i + 1 < len; ++i) pair_at(i);
    while (len > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < len; ++i)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == kNone) break;
        ids[best] = merged[best];
        for (size_t i = best + 1; i + 1 < len; ++i) {
            ids[i] = ids[i + 1];
            rank[i] = rank[i + 1];
            merged[i] = merged[i + 1];
        }
        --len;
        if (best > 0) pair_at(best - 1);
        if (best + 1 < len) pair_at(best);
    }
    out.insert(out.end(), ids.begin(), ids.begin() + ptrdiff_t(len));
}

void BpeModel::encode(std::string_view piece, bool byte_level, std::vector<int32_t>& out) const {
    if (piece.empty()) return;
    thread_local BpeScratch sc;
    if (opt_.ignore_merges) {
        std::string_view whole = piece;
        if (byte_level) {
            sc.mapped.clear();
            byte_level_encode(piece, sc.mapped);
            whole = sc.mapped;
        }
        if (const int32_t id = lookup(vocab_, whole); id >= 0) {
            out.push_back(id);
            return;
        }
    }

    sc.ids.clear();
    sc.is_unk.clear();
    if (byte_level) {
        std::string ch;
        for (unsigned char b : piece) {
            if (byte_char_id_[b] >= 0) {
                sc.ids.push_back(byte_char_id_[b]);
                sc.is_unk.push_back(false);
            } else {
                ch.clear();
                utf8_append(ch, byte_to_codepoint(b));
                push_initial(ch, sc.ids, sc.is_unk);
            }
        }
    } else {
        for (size_t i = 0; i < piece.size();) {
            const size_t len = utf8_next(piece, i).len;
            const std::string_view ch = piece.substr(i, len);
            if (const int32_t id = lookup(vocab_, ch); id >= 0) {
                sc.ids.push_back(id);
                sc.is_unk.push_back(false);
            } else {
                push_initial(ch, sc.ids, sc.is_unk);
            }
            i += len;
        }
    }

    const auto n = int32_t(sc.ids.size());
    if (n <= 1) {
        out.insert(out.end(), sc.ids.begin(), sc.ids.end());
        return;
    }
    if (n <= kShortPiece) {
        merge_short(sc.ids, out);
        return;
    }
    auto& syms = sc.syms;
    auto& heap = sc.heap;
    syms.resize(size_t(n));
    for (int32_t i = 0; i < n; ++i) syms[size_t(i)] = {sc.ids[size_t(i)], i - 1, i + 1 < n ? i + 1 : -1};
    heap.clear();
    auto try_push = [&](int32_t pos) {
        const int32_t nxt = syms[size_t(pos)].next;
        if (nxt < 0) return;
        const int32_t l = syms[size_t(pos)].id, r = syms[size_t(nxt)].id;
        if (const MergeTable::Value* v = table_.find(l, r)) {
            heap.push_back({v->rank, pos, l, r, v->merged});
            std::push_heap(heap.begin(), heap.end());
        }
    };
    for (int32_t i = 0; i + 1 < n; ++i) try_push(i);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        const BpeScratch::Entry top = heap.back();
        heap.pop_back();
        auto& s = syms[size_t(top.pos)];
        if (s.id != top.left || s.next < 0 || syms[size_t(s.next)].id != top.right) continue;  // stale
        auto& right = syms[size_t(s.next)];
        s.id = top.merged;
        s.next = right.next;
        if (right.next >= 0) syms[size_t(right.next)].prev = top.pos;
        right.id = -1;
        if (s.prev >= 0) try_push(s.prev);
        try_push(top.pos);
    }
    for (int32_t i = 0; i >= 0; i = syms[size_t(i)].next) out.push_back(syms[size_t(i)].id);
}

// ---- SentencePiece (llama.cpp llm_tokenizer_spm) ---------------------------

namespace {

struct SpmScratch {
    struct Sym {
        uint32_t off;
        uint32_t len;  // 0 once merged into its left neighbour
        int32_t prev;
        int32_t next;
    };
    struct Bigram {
        float score;
        int32_t left;
        int32_t right;
        uint32_t size;
        // Heap order: highest score first, then leftmost.
        bool operator<(const Bigram& o) const { return score != o.score ? score < o.score : left > o.left; }
    };
    std::vector<Sym> syms;
    std::vector<Bigram> heap;
};

}  // namespace

SpmModel::SpmModel(const VocabMap& vocab, const std::vector<float>& scores, int32_t unk)
    : vocab_(vocab), scores_(scores), unk_(unk) {
    for (unsigned b = 0; b < 256; ++b) {
        int32_t id = lookup(vocab_, byte_token_text(b));
        if (id < 0) id = lookup(vocab_, std::string(1, char(b)));
        byte_id_[b] = id;
    }
}

void SpmModel::encode(std::string_view text, std::vector<int32_t>& out) const {
    if (text.empty()) return;
    thread_local SpmScratch sc;
    auto& syms = sc.syms;
    auto& heap = sc.heap;
    syms.clear();
    heap.clear();
    for (size_t i = 0; i < text.size();) {
        const uint32_t len = utf8_next(text, i).len;
        const auto idx = int32_t(syms.size());
        syms.push_back({uint32_t(i), len, idx - 1, i + len < text.size() ? idx + 1 : -1});
        i += len;
    }
    auto try_add = [&](int32_t l, int32_t r) {
        if (l < 0 || r < 0) return;
        const uint32_t size = syms[size_t(l)].len + syms[size_t(r)].len;
        const int32_t id = lookup(vocab_, text.substr(syms[size_t(l)].off, size));
        if (id < 0) return;
        const float score = size_t(id) < scores_.size() ? scores_[size_t(id)] : 0.0f;
        heap.push_back({score, l, r, size});
        std::push_heap(heap.begin(), heap.end());
    };
    for (int32_t i = 1; i < int32_t(syms.size()); ++i) try_add(i - 1, i);
    while (!heap.empty()) {
        std::pop_heap(heap.begin(), heap.end());
        const SpmScratch::Bigram top = heap.back();
        heap.pop_back();
        auto& l = syms[size_t(top.left)];
        auto& r = syms[size_t(top.right)];
        if (l.len == 0 || r.len == 0 || l.len + r.len != top.size) continue;  // stale
        l.len += r.len;
        r.len = 0;
        l.next = r.next;
        if (r.next >= 0) syms[size_t(r.next)].prev = top.left;
        try_add(l.prev, top.left);
        try_add(top.left, l.next);
    }
    for (int32_t i = 0; i >= 0; i = syms[size_t(i)].next) {
        const std::string_view piece = text.substr(syms[size_t(i)].off, syms[size_t(i)].len);
        if (const int32_t id = lookup(vocab_, piece); id >= 0) {
            out.push_back(id);
            continue;
        }
        for (char c : piece) {  // byte fallback
            const int32_t id = byte_id_[uint8_t(c)];
            if (id >= 0) out.push_back(id);
            else if (unk_ >= 0) out.push_back(unk_);
        }
    }
}

}  // namespace dsm::tok
