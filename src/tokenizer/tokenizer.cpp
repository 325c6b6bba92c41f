#include "tokenizer/tokenizer.hpp"

#include <algorithm>
#include <unordered_map>

#include "core/error.hpp"
#include "tokenizer/tokenizer_impl.hpp"
#include "tokenizer/unicode.hpp"

namespace dsm {

namespace tok {

// ---- AddedTokenMatcher ----------------------------------------------------

int32_t AddedTokenMatcher::child(int32_t node, uint8_t b) const {
    if (node == 0) return root_kids_[b];
    for (const auto& [c, n] : nodes_[size_t(node)].kids)
        if (c == b) return n;
    return -1;
}

void AddedTokenMatcher::add(AddedToken token) {
    int32_t node = 0;
    for (unsigned char b : token.content) {
        int32_t next = child(node, b);
        if (next < 0) {
            next = int32_t(nodes_.size());
            nodes_.emplace_back();
            if (node == 0) root_kids_[b] = next;
            else nodes_[size_t(node)].kids.emplace_back(b, next);
        }
        node = next;
    }
    if (nodes_[size_t(node)].token >= 0) return;  // same content twice: the first one wins
    nodes_[size_t(node)].token = int32_t(tokens_.size());
    tokens_.push_back(std::move(token));
}

namespace {

// Start of the run of White_Space characters that ends at `end` (not before `floor`).
size_t whitespace_run_start(std::string_view s, size_t end, size_t floor) {
    size_t pos = end;
    while (pos > floor) {
        size_t b = pos - 1;
        while (b > 0 && (uint8_t(s[b]) & 0xC0) == 0x80) --b;
        if (!is_white_space(utf8_next(s, b).cp)) break;
        pos = b;
    }
    return pos;
}

size_t whitespace_run_end(std::string_view s, size_t begin) {
    size_t pos = begin;
    while (pos < s.size()) {
        const Utf8Char c = utf8_next(s, pos);
        if (!is_white_space(c.cp)) break;
        pos += c.len;
    }
    return pos;
}

bool word_char_before(std::string_view s, size_t pos) {
    if (pos == 0) return false;
    size_t b = pos - 1;
    while (b > 0 && (uint8_t(s[b]) & 0xC0) == 0x80) --b;
    return is_word_char(utf8_next(s, b).cp);
}

bool word_char_at(std::string_view s, size_t pos) { return pos < s.size() && is_word_char(utf8_next(s, pos).cp); }

}  // namespace

void AddedTokenMatcher::split(std::string_view text, bool parse_special, std::vector<Segment>& out) const {
    size_t done = 0;  // end of the last emitted segment
    size_t i = 0;
    while (i < text.size()) {
        if (root_kids_[uint8_t(text[i])] < 0) {
            ++i;
            continue;
        }
        // Longest allowed token starting at i.
        int32_t best = -1;
        size_t best_end = 0;
        int32_t node = 0;
        for (size_t j = i; j < text.size(); ++j) {
            node = child(node, uint8_t(text[j]));
            if (node < 0) break;
            const int32_t t = nodes_[size_t(node)].token;
            if (t >= 0 && (parse_special || !tokens_[size_t(t)].special)) {
                best = t;
                best_end = j + 1;
            }
        }
        if (best < 0) {
            ++i;
            continue;
        }
        const AddedToken& tok = tokens_[size_t(best)];
        size_t start = i, stop = best_end;
        i = best_end;
        if (tok.single_word && (word_char_before(text, start) || word_char_at(text, stop))) continue;
        if (tok.lstrip) start = whitespace_run_start(text, start, done);
        if (tok.rstrip) stop = whitespace_run_end(text, stop);
        if (start > done) out.push_back({done, start, -1});
        out.push_back({start, stop, tok.id});
        done = stop;
        i = std::max(i, stop);
    }
    if (done < text.size()) out.push_back({done, text.size(), -1});
}

}  // namespace tok

// ---- Tokenizer::Impl ------------------------------------------------------

void Tokenizer::Impl::register_added_tokens(const std::vector<tok::AddedToken>& added) {
    for (const tok::AddedToken& a : added) {
        // Text is matched byte-wise; content that is not UTF-8 could cut a character.
        if (a.content.empty() || !tok::utf8_valid(a.content)) continue;
        tok::TokenEntry& e = tokens[size_t(a.id)];
        e.added = true;
        e.special = a.special;
        if (!a.normalized || normalizers.empty()) {
            raw_added.add(a);
            continue;
        }
        // A normalized token is looked for in normalized text, so normalize its content too.
        tok::AddedToken n = a;
        normalize(n.content);
        if (!n.content.empty()) normalized_added.add(std::move(n));
    }
}

void Tokenizer::Impl::normalize(std::string& text) const {
    // Guards against a (malformed) chain of Replace normalizers that multiplies the
    // text; real normalizers grow it by a small factor (NFKC: at most 18 characters for one).
    const size_t limit = 64 * text.size() + 4096;
    for (const auto& n : normalizers) {
        n->apply(text);
        if (text.size() > limit) throw Error("tokenizer: the normalizers expand the text more than 64-fold");
    }
}

void Tokenizer::Impl::finish_special_tokens() {
    // Well-known end-of-turn tokens: the names llama.cpp looks for, plus <|EOT|>
    // (DeepSeek-Coder-Instruct's end of turn). The first one present is the EOT.
    static const char* const kEndOfTurn[] = {
        "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
        "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<|EOT|>", "<|eom_id|>",
    };
    std::unordered_map<std::string_view, int32_t> by_text;
    for (size_t id = 0; id < tokens.size(); ++id)
        if (tokens[id].added || tokens[id].type == Tokenizer::kControl) by_text.emplace(tokens[id].text, int32_t(id));
    eog.clear();
    for (const char* name : kEndOfTurn) {
        const auto it = by_text.find(name);
        if (it == by_text.end()) continue;
        if (eot < 0) eot = it->second;
        eog.push_back(it->second);
    }
    if (eos >= 0) eog.push_back(eos);
    if (eot >= 0) eog.push_back(eot);
    std::sort(eog.begin(), eog.end());
    eog.erase(std::unique(eog.begin(), eog.end()), eog.end());
}

std::string Tokenizer::Impl::decode_raw(std::span<const int32_t> ids, bool skip_special, bool at_start) const {
    std::vector<tok::DecodeToken> toks;
    toks.reserve(ids.size());
    for (const int32_t id : ids) {
        if (id < 0 || size_t(id) >= tokens.size())
            throw Error("tokenizer: token id " + std::to_string(id) + " out of range [0, " +
                        std::to_string(tokens.size()) + ")");
        const tok::TokenEntry& e = tokens[size_t(id)];
        if (skip_special && e.special) continue;
        toks.push_back({e.text, e.added});
    }
    std::string out;
    if (!has_decoder) {  // tokenizers joins the token strings with spaces
        for (size_t i = 0; i < toks.size(); ++i) out.append(i ? " " : "").append(toks[i].text);
        return out;
    }
    for (const auto& d : decoders) d->apply(toks, at_start);
    for (const auto& t : toks) out += t.text;
    return out;
}

void Tokenizer::Impl::encode_text(std::string_view text, bool at_start, PieceCache& cache,
                                  std::vector<int32_t>& out) const {
    if (text.empty()) return;
    tok::PreTokenized p;
    p.text.assign(text);
    p.spans.push_back({0, uint32_t(text.size())});
    p.at_text_start = at_start;
    for (const auto& pt : pre_tokenizers) pt->apply(p);

    for (const tok::Span& s : p.spans) {
        const std::string_view piece = p.piece(s);
        if (piece.empty()) continue;
        if (const auto it = cache.find(piece); it != cache.end()) {
            for (size_t k = it->second.first; k < it->second.first + it->second.second; ++k) {
                const int32_t id = out[k];
                out.push_back(id);
            }
            continue;
        }
        const size_t start = out.size();
        if (spm) spm->encode(piece, out);
        else bpe->encode(piece, p.byte_level, out);
        cache.emplace(piece, std::make_pair(start, out.size() - start));
    }
}

void Tokenizer::Impl::encode_segment(std::string_view text, bool at_start, bool parse_special, PieceCache& cache,
                                     std::vector<int32_t>& out) const {
    std::string normalized;
    if (!normalizers.empty()) {
        normalized.assign(text);
        normalize(normalized);
        text = normalized;
    }
    if (normalized_added.empty()) {
        encode_text(text, at_start, cache, out);
        return;
    }
    std::vector<tok::AddedTokenMatcher::Segment> segs;
    normalized_added.split(text, parse_special, segs);
    for (const auto& s : segs) {
        if (s.id >= 0) out.push_back(s.id);
        else encode_text(text.substr(s.begin, s.end - s.begin), at_start && s.begin == 0, cache, out);
    }
}

// ---- Tokenizer ------------------------------------------------------------

Tokenizer::Tokenizer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Tokenizer::~Tokenizer() = default;

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special, bool parse_special) const {
    const Impl& m = *impl_;
    if (text.size() >= (size_t(1) << 32)) throw Error("tokenizer: text of 4 GiB or more");  // spans are 32-bit
    std::string repaired;
    if (!tok::utf8_valid(text)) {
        repaired = tok::utf8_sanitize(text);
        text = repaired;
    }
    std::vector<int32_t> out;
    out.reserve(text.size() / 3 + 4);
    if (add_special) out.insert(out.end(), m.prefix.begin(), m.prefix.end());
    std::vector<tok::AddedTokenMatcher::Segment> segs;
    m.raw_added.split(text, parse_special, segs);
    Impl::PieceCache cache;
    for (const auto& s : segs) {
        if (s.id >= 0) out.push_back(s.id);
        else m.encode_segment(text.substr(s.begin, s.end - s.begin), s.begin == 0, parse_special, cache, out);
    }
    if (add_special) out.insert(out.end(), m.suffix.begin(), m.suffix.end());
    return out;
}

std::string Tokenizer::decode(std::span<const int32_t> ids, bool skip_special) const {
    std::string text = tok::utf8_sanitize(impl_->decode_raw(ids, skip_special, true));
    if (impl_->clean_up_spaces) {
        // transformers' clean_up_tokenization
        static const std::pair<const char*, const char*> kRules[] = {
            {" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"},
            {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"},
        };
        for (const auto& [from, to] : kRules) text = tok::Pattern::literal(from).replace_all(text, to);
    }
    return text;
}

std::string Tokenizer::token_to_piece(int32_t id) const { return impl_->decode_raw({&id, 1}, false, false); }

int32_t Tokenizer::n_vocab() const { return int32_t(impl_->tokens.size()); }
int32_t Tokenizer::bos() const { return impl_->bos; }
int32_t Tokenizer::eos() const { return impl_->eos; }
int32_t Tokenizer::eot() const { return impl_->eot; }
int32_t Tokenizer::unk() const { return impl_->unk; }
int32_t Tokenizer::pad() const { return impl_->pad; }
bool Tokenizer::add_bos() const {
    return impl_->bos >= 0 && std::find(impl_->prefix.begin(), impl_->prefix.end(), impl_->bos) != impl_->prefix.end();
}
bool Tokenizer::add_eos() const {
    return impl_->eos >= 0 && std::find(impl_->suffix.begin(), impl_->suffix.end(), impl_->eos) != impl_->suffix.end();
}
const std::string& Tokenizer::chat_template() const { return impl_->chat_template; }

bool Tokenizer::is_special(int32_t id) const {
    return id >= 0 && size_t(id) < impl_->tokens.size() && impl_->tokens[size_t(id)].special;
}

bool Tokenizer::is_end_of_generation(int32_t id) const {
    return std::binary_search(impl_->eog.begin(), impl_->eog.end(), id);
}

// ---- StreamDecoder --------------------------------------------------------

StreamDecoder::StreamDecoder(const Tokenizer& tok, bool skip_special, bool at_text_start)
    : tok_(tok), skip_special_(skip_special), at_text_start_(at_text_start) {}

// The window always starts with a token whose bytes were already returned (or with
// the first token of the stream), so start-of-text rules hit the same token in every
// decode of the window, and the new bytes are the tail past `emitted_`.
std::string StreamDecoder::push(int32_t id) {
    if (id < 0 || id >= tok_.n_vocab())
        throw Error("tokenizer: token id " + std::to_string(id) + " out of range [0, " + std::to_string(tok_.n_vocab()) + ")");
    if (skip_special_ && tok_.is_special(id)) return {};
    window_.push_back(id);
    const std::string bytes = tok_.impl_->decode_raw(window_, skip_special_, at_text_start_);
    const std::string_view fresh = std::string_view(bytes).substr(std::min(emitted_, bytes.size()));
    const size_t n = tok::utf8_complete_prefix(fresh);
    std::string out = tok::utf8_sanitize(fresh.substr(0, n));
    emitted_ += n;
    if (n == fresh.size()) shrink();
    return out;
}

std::string StreamDecoder::flush() {
    if (window_.empty()) return {};
    const std::string bytes = tok_.impl_->decode_raw(window_, skip_special_, at_text_start_);
    std::string out = tok::utf8_sanitize(std::string_view(bytes).substr(std::min(emitted_, bytes.size())));
    emitted_ = bytes.size();
    shrink();
    return out;
}

// Everything in the window has been returned: keep only its last token, unless that
// token alone decodes to nothing (it could not then carry the start-of-text rules).
void StreamDecoder::shrink() {
    const std::vector<int32_t> last(window_.end() - 1, window_.end());
    const size_t n = tok_.impl_->decode_raw(last, skip_special_, at_text_start_).size();
    if (n == 0) return;
    window_ = last;
    emitted_ = n;
}

}  // namespace dsm
