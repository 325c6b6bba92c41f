#include "tokenizer/pipeline.hpp"

#include <algorithm>

namespace dsm::tok {

const char* const kGpt2Pattern = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

// ---- Pattern --------------------------------------------------------------

Pattern Pattern::literal(std::string s) {
    Pattern p;
    p.literal_ = std::move(s);
    return p;
}

Pattern Pattern::regex(std::string_view onig) {
    Pattern p;
    p.regex_ = std::make_shared<const Regex>(onig);
    return p;
}

void Pattern::find_all(std::string_view subject, std::vector<Regex::Range>& out) const {
    if (regex_) {
        regex_->find_all(subject, out);
        return;
    }
    if (literal_.empty()) return;
    for (size_t pos = subject.find(literal_); pos != std::string_view::npos;
         pos = subject.find(literal_, pos + literal_.size()))
        out.emplace_back(pos, pos + literal_.size());
}

std::string Pattern::replace_all(std::string_view subject, std::string_view with) const {
    std::vector<Regex::Range> matches;
    find_all(subject, matches);
    if (matches.empty()) return std::string(subject);
    std::string out;
    out.reserve(subject.size() + matches.size() * with.size());
    size_t prev = 0;
    for (const auto& [b, e] : matches) {
        out.append(subject.substr(prev, b - prev));
        out.append(with);
        prev = e;
    }
    out.append(subject.substr(prev));
    return out;
}

// ---- normalizers ----------------------------------------------------------

namespace {

class UnicodeNormalizer final : public Normalizer {
public:
    explicit UnicodeNormalizer(NormForm f) : form_(f) {}
    void apply(std::string& s) const override { s = normalize(s, form_); }

private:
    NormForm form_;
};

class LowercaseNormalizer final : public Normalizer {
public:
    void apply(std::string& s) const override { s = lowercase(s); }
};

class ReplaceNormalizer final : public Normalizer {
public:
    ReplaceNormalizer(Pattern p, std::string c) : pattern_(std::move(p)), content_(std::move(c)) {}
    void apply(std::string& s) const override { s = pattern_.replace_all(s, content_); }

private:
    Pattern pattern_;
    std::string content_;
};

class PrependNormalizer final : public Normalizer {
public:
    explicit PrependNormalizer(std::string p) : prefix_(std::move(p)) {}
    void apply(std::string& s) const override {
        if (!s.empty()) s.insert(0, prefix_);
    }

private:
    std::string prefix_;
};

}  // namespace

std::unique_ptr<Normalizer> make_unicode_normalizer(NormForm form) { return std::make_unique<UnicodeNormalizer>(form); }
std::unique_ptr<Normalizer> make_lowercase_normalizer() { return std::make_unique<LowercaseNormalizer>(); }
std::unique_ptr<Normalizer> make_replace_normalizer(Pattern pattern, std::string content) {
    return std::make_unique<ReplaceNormalizer>(std::move(pattern), std::move(content));
}
std::unique_ptr<Normalizer> make_prepend_normalizer(std::string prefix) {
    return std::make_unique<PrependNormalizer>(std::move(prefix));
}

// ---- pre-tokenizers -------------------------------------------------------

void PreTokenized::materialize_byte_level() {
    std::string mapped;
    mapped.reserve(text.size() * 2);
    for (Span& s : spans) {
        const auto b = uint32_t(mapped.size());
        byte_level_encode(piece(s), mapped);
        s = {b, uint32_t(mapped.size())};
    }
    text = std::move(mapped);
    byte_level = false;
}

namespace {

struct Part {
    uint32_t begin;
    uint32_t end;
    bool match;
};

// Turns the parts of one piece (gaps and matches, in order, covering it) into
// output spans according to `behavior` (tokenizers' NormalizedString::split).
void emit_parts(const std::vector<Part>& parts, SplitBehavior behavior, std::vector<Span>& out) {
    switch (behavior) {
        case SplitBehavior::Removed:
            for (const Part& p : parts)
                if (!p.match) out.push_back({p.begin, p.end});
            break;
        case SplitBehavior::Isolated:
            for (const Part& p : parts) out.push_back({p.begin, p.end});
            break;
        case SplitBehavior::Contiguous: {
            bool prev_match = false;
            const size_t first = out.size();
            for (const Part& p : parts) {
                if (p.match && prev_match && out.size() > first) out.back().end = p.end;
                else out.push_back({p.begin, p.end});
                prev_match = p.match;
            }
            break;
        }
        case SplitBehavior::MergedWithPrevious: {
            bool prev_match = false;
            const size_t first = out.size();
            for (const Part& p : parts) {
                if (p.match && !prev_match && out.size() > first) out.back().end = p.end;
                else out.push_back({p.begin, p.end});
                prev_match = p.match;
            }
            break;
        }
        case SplitBehavior::MergedWithNext: {
            bool next_match = false;
            std::vector<Span> rev;
            for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
                if (it->match && !next_match && !rev.empty()) rev.back().begin = it->begin;
                else rev.push_back({it->begin, it->end});
                next_match = it->match;
            }
            out.insert(out.end(), rev.rbegin(), rev.rend());
            break;
        }
    }
}

// Splits every piece at the ranges that `find` reports (relative to the piece).
template <class Find>
void split_pieces(PreTokenized& p, SplitBehavior behavior, bool invert, Find&& find) {
    std::vector<Span> out;
    out.reserve(p.spans.size() * 2);
    std::vector<Regex::Range> matches;
    std::vector<Part> parts;
    for (const Span& s : p.spans) {
        matches.clear();
        parts.clear();
        find(p.piece(s), matches);
        uint32_t prev = s.begin;
        for (const auto& [mb, me] : matches) {
            const auto b = uint32_t(s.begin + mb), e = uint32_t(s.begin + me);
            if (b > prev) parts.push_back({prev, b, invert});
            parts.push_back({b, e, !invert});
            prev = e;
        }
        if (prev < s.end) parts.push_back({prev, s.end, invert});
        emit_parts(parts, behavior, out);
    }
    p.spans = std::move(out);
}

class SplitPreTokenizer final : public PreTokenizer {
public:
    SplitPreTokenizer(Pattern p, SplitBehavior b, bool inv) : pattern_(std::move(p)), behavior_(b), invert_(inv) {}
    void apply(PreTokenized& p) const override {
        if (p.byte_level) p.materialize_byte_level();
        split_pieces(p, behavior_, invert_,
                     [&](std::string_view s, std::vector<Regex::Range>& m) { pattern_.find_all(s, m); });
    }
    const Regex* split_regex() const override {
        return behavior_ == SplitBehavior::Isolated && !invert_ ? pattern_.regex_ptr() : nullptr;
    }

private:
    Pattern pattern_;
    SplitBehavior behavior_;
    bool invert_;
};

// Rebuilds the text from its pieces, each passed through `edit` (which appends
// the new piece to `out`).
template <class Edit>
void rewrite_pieces(PreTokenized& p, Edit&& edit) {
    std::string text;
    text.reserve(p.text.size() + p.spans.size());
    for (size_t i = 0; i < p.spans.size(); ++i) {
        Span& s = p.spans[i];
        const auto b = uint32_t(text.size());
        edit(i, p.piece(s), text);
        s = {b, uint32_t(text.size())};
    }
    p.text = std::move(text);
}

class ByteLevelPreTokenizer final : public PreTokenizer {
public:
    ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
        : add_prefix_space_(add_prefix_space), regex_(use_regex ? std::make_unique<Regex>(kGpt2Pattern) : nullptr) {}
    void apply(PreTokenized& p) const override {
        if (p.byte_level) p.materialize_byte_level();
        if (add_prefix_space_) {
            rewrite_pieces(p, [](size_t, std::string_view piece, std::string& out) {
                if (piece.empty() || piece[0] != ' ') out += ' ';
                out.append(piece);
            });
        }
        if (regex_) {
            split_pieces(p, SplitBehavior::Isolated, false,
                         [&](std::string_view s, std::vector<Regex::Range>& m) { regex_->find_all(s, m); });
        }
        p.byte_level = true;
    }
    const Regex* split_regex() const override { return regex_.get(); }

private:
    bool add_prefix_space_;
    std::unique_ptr<Regex> regex_;
};

class DigitsPreTokenizer final : public PreTokenizer {
public:
    explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
    void apply(PreTokenized& p) const override {
        if (p.byte_level) p.materialize_byte_level();
        split_pieces(p, individual_ ? SplitBehavior::Isolated : SplitBehavior::Contiguous, false,
                     [](std::string_view s, std::vector<Regex::Range>& m) {
                         for (size_t i = 0; i < s.size();) {
                             const Utf8Char c = utf8_next(s, i);
                             if (is_numeric(c.cp)) m.emplace_back(i, i + c.len);
                             i += c.len;
                         }
                     });
    }

private:
    bool individual_;
};

class MetaspacePreTokenizer final : public PreTokenizer {
public:
    MetaspacePreTokenizer(std::string r, PrependScheme s, bool split)
        : replacement_(std::move(r)), scheme_(s), split_(split) {}
    void apply(PreTokenized& p) const override {
        if (p.byte_level) p.materialize_byte_level();
        const bool at_start = p.at_text_start;
        rewrite_pieces(p, [&](size_t i, std::string_view piece, std::string& out) {
            const bool starts_with_rep = piece.substr(0, replacement_.size()) == replacement_;
            const bool prepend = scheme_ == PrependScheme::Always ||
                                 (scheme_ == PrependScheme::First && at_start && i == 0 && piece.data() == p.text.data());
            if (prepend && !starts_with_rep) out += replacement_;
            for (char c : piece) {
                if (c == ' ') out += replacement_;
                else out += c;
            }
        });
        if (split_) {
            split_pieces(p, SplitBehavior::MergedWithNext, false,
                         [&](std::string_view s, std::vector<Regex::Range>& m) {
                             for (size_t pos = s.find(replacement_); pos != std::string_view::npos;
                                  pos = s.find(replacement_, pos + replacement_.size()))
                                 m.emplace_back(pos, pos + replacement_.size());
                         });
        }
    }

private:
    std::string replacement_;
    PrependScheme scheme_;
    bool split_;
};

}  // namespace

std::unique_ptr<PreTokenizer> make_split(Pattern pattern, SplitBehavior behavior, bool invert) {
    return std::make_unique<SplitPreTokenizer>(std::move(pattern), behavior, invert);
}
std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex) {
    return std::make_unique<ByteLevelPreTokenizer>(add_prefix_space, use_regex);
}
std::unique_ptr<PreTokenizer> make_digits(bool individual_digits) {
    return std::make_unique<DigitsPreTokenizer>(individual_digits);
}
std::unique_ptr<PreTokenizer> make_metaspace(std::string replacement, PrependScheme scheme, bool split) {
    return std::make_unique<MetaspacePreTokenizer>(std::move(replacement), scheme, split);
}

// ---- decoders -------------------------------------------------------------

namespace {

class ByteLevelDecoder final : public Decoder {
public:
    void apply(std::vector<DecodeToken>& tokens, bool /*at_start*/) const override {
        std::string bytes;
        for (DecodeToken& t : tokens) {
            if (t.added) continue;
            bytes.clear();
            bool ok = true;
            for (size_t i = 0; i < t.text.size() && ok;) {
                const Utf8Char c = utf8_next(t.text, i);
                const int b = c.valid ? codepoint_to_byte(c.cp) : -1;
                ok = b >= 0;
                bytes += char(b);
                i += c.len;
            }
            if (ok) t.text = bytes;  // otherwise the token is not in the byte alphabet: keep it
        }
    }
};

class ReplaceDecoder final : public Decoder {
public:
    ReplaceDecoder(Pattern p, std::string c) : pattern_(std::move(p)), content_(std::move(c)) {}
    void apply(std::vector<DecodeToken>& tokens, bool /*at_start*/) const override {
        for (DecodeToken& t : tokens) t.text = pattern_.replace_all(t.text, content_);
    }

private:
    Pattern pattern_;
    std::string content_;
};

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// "<0xAB>" -> 0xAB, else -1.
int byte_token_value(std::string_view t) {
    if (t.size() != 6 || t.substr(0, 3) != "<0x" || t[5] != '>') return -1;
    const int hi = hex_digit(t[3]), lo = hex_digit(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

// Runs of byte tokens become one token of raw bytes. (tokenizers checks the run
// for UTF-8 validity here; the raw bytes are kept instead and repaired once at the
// end of decoding, which the streaming decoder needs to see partial characters.)
class ByteFallbackDecoder final : public Decoder {
public:
    void apply(std::vector<DecodeToken>& tokens, bool /*at_start*/) const override {
        std::vector<DecodeToken> out;
        out.reserve(tokens.size());
        bool in_run = false;
        for (DecodeToken& t : tokens) {
            const int b = byte_token_value(t.text);
            if (b < 0) {
                out.push_back(std::move(t));
                in_run = false;
                continue;
            }
            if (!in_run) out.push_back({std::string(), false});
            out.back().text += char(b);
            in_run = true;
        }
        tokens = std::move(out);
    }
};

class FuseDecoder final : public Decoder {
public:
    void apply(std::vector<DecodeToken>& tokens, bool /*at_start*/) const override {
        if (tokens.size() <= 1) return;
        DecodeToken fused;
        for (const DecodeToken& t : tokens) fused.text += t.text;
        tokens.assign(1, std::move(fused));
    }
};

class StripDecoder final : public Decoder {
public:
    StripDecoder(std::string content, size_t start, size_t stop)
        : content_(std::move(content)), start_(start), stop_(stop) {}
    void apply(std::vector<DecodeToken>& tokens, bool at_start) const override {
        if (content_.empty()) return;
        const size_t n = content_.size();
        for (DecodeToken& t : tokens) {
            std::string_view s = t.text;
            for (size_t i = 0; at_start && i < start_ && s.substr(0, n) == content_; ++i) s.remove_prefix(n);
            for (size_t i = 0; i < stop_ && s.size() >= n && s.substr(s.size() - n) == content_; ++i)
                s.remove_suffix(n);
            t.text = std::string(s);
        }
    }

private:
    std::string content_;
    size_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
public:
    MetaspaceDecoder(std::string r, PrependScheme s) : replacement_(std::move(r)), scheme_(s) {}
    void apply(std::vector<DecodeToken>& tokens, bool at_start) const override {
        for (size_t i = 0; i < tokens.size(); ++i) {
            // As in tokenizers: in the first token the replacement is dropped, not turned into a space.
            const std::string with = at_start && i == 0 && scheme_ != PrependScheme::Never ? "" : " ";
            tokens[i].text = Pattern::literal(replacement_).replace_all(tokens[i].text, with);
        }
    }

private:
    std::string replacement_;
    PrependScheme scheme_;
};

}  // namespace

std::unique_ptr<Decoder> make_byte_level_decoder() { return std::make_unique<ByteLevelDecoder>(); }
std::unique_ptr<Decoder> make_replace_decoder(Pattern pattern, std::string content) {
    return std::make_unique<ReplaceDecoder>(std::move(pattern), std::move(content));
}
std::unique_ptr<Decoder> make_byte_fallback_decoder() { return std::make_unique<ByteFallbackDecoder>(); }
std::unique_ptr<Decoder> make_fuse_decoder() { return std::make_unique<FuseDecoder>(); }
std::unique_ptr<Decoder> make_strip_decoder(std::string content, size_t start, size_t stop) {
    return std::make_unique<StripDecoder>(std::move(content), start, stop);
}
std::unique_ptr<Decoder> make_metaspace_decoder(std::string replacement, PrependScheme scheme) {
    return std::make_unique<MetaspaceDecoder>(std::move(replacement), scheme);
}

}  // namespace dsm::tok
