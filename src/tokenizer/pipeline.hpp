// The stages around a tokenizer model, with Hugging Face tokenizers semantics:
// normalizers (text -> text), pre-tokenizers (text -> pieces) and decoders
// (token strings -> text). Internal to src/tokenizer/.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/regex.hpp"
#include "tokenizer/unicode.hpp"

namespace dsm::tok {

// A literal or regex pattern, as in tokenizer.json's {"String": ...} / {"Regex": ...}.
class Pattern {
public:
    static Pattern literal(std::string s);
    static Pattern regex(std::string_view onig);
    void find_all(std::string_view subject, std::vector<Regex::Range>& out) const;
    std::string replace_all(std::string_view subject, std::string_view with) const;
    const Regex* regex_ptr() const { return regex_.get(); }  // null for a literal

private:
    std::string literal_;
    std::shared_ptr<const Regex> regex_;
};

// ---- normalizers ----------------------------------------------------------

class Normalizer {
public:
    virtual ~Normalizer() = default;
    virtual void apply(std::string& s) const = 0;  // s is valid UTF-8 and stays so
};

std::unique_ptr<Normalizer> make_unicode_normalizer(NormForm form);
std::unique_ptr<Normalizer> make_lowercase_normalizer();
std::unique_ptr<Normalizer> make_replace_normalizer(Pattern pattern, std::string content);
std::unique_ptr<Normalizer> make_prepend_normalizer(std::string prefix);

// ---- pre-tokenizers -------------------------------------------------------

struct Span {
    uint32_t begin;
    uint32_t end;
};

// Pieces of one text segment. While `byte_level` is set, the pieces still hold raw
// bytes that the model must read in the GPT-2 byte alphabet (mapping them lazily
// saves a copy in the common case where ByteLevel is the last pre-tokenizer).
struct PreTokenized {
    std::string text;
    std::vector<Span> spans;
    bool byte_level = false;
    bool at_text_start = true;  // segment starts the whole input (Metaspace "first")

    std::string_view piece(const Span& s) const { return std::string_view(text).substr(s.begin, s.end - s.begin); }
    void materialize_byte_level();  // rewrites the text in the byte alphabet
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

class PreTokenizer {
public:
    virtual ~PreTokenizer() = default;
    virtual void apply(PreTokenized& p) const = 0;
    // The regex of an isolating, non-inverted Split (used to name the pre-tokenizer).
    virtual const Regex* split_regex() const { return nullptr; }
};

std::unique_ptr<PreTokenizer> make_split(Pattern pattern, SplitBehavior behavior, bool invert);
std::unique_ptr<PreTokenizer> make_byte_level(bool add_prefix_space, bool use_regex);
std::unique_ptr<PreTokenizer> make_digits(bool individual_digits);
enum class PrependScheme { Always, First, Never };
std::unique_ptr<PreTokenizer> make_metaspace(std::string replacement, PrependScheme scheme, bool split);

// The GPT-2 split regex that ByteLevel uses with use_regex = true.
extern const char* const kGpt2Pattern;

// ---- decoders -------------------------------------------------------------

// A token on its way through the decoders: its bytes, and whether it is an added
// token (which byte-level decoding leaves as written).
struct DecodeToken {
    std::string text;
    bool added = false;
};

class Decoder {
public:
    virtual ~Decoder() = default;
    // `at_start`: the first token starts the text, so start-of-text rules (Strip's
    // leading strip, Metaspace's dropped first "▁") apply to it.
    virtual void apply(std::vector<DecodeToken>& tokens, bool at_start) const = 0;
};

std::unique_ptr<Decoder> make_byte_level_decoder();
std::unique_ptr<Decoder> make_replace_decoder(Pattern pattern, std::string content);
std::unique_ptr<Decoder> make_byte_fallback_decoder();
std::unique_ptr<Decoder> make_fuse_decoder();
std::unique_ptr<Decoder> make_strip_decoder(std::string content, size_t start, size_t stop);
std::unique_ptr<Decoder> make_metaspace_decoder(std::string replacement, PrependScheme scheme);

}  // namespace dsm::tok
