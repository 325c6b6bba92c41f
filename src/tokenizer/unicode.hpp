// UTF-8 and Unicode helpers for the tokenizer: validation and lossy repair,
// the GPT-2 byte-to-unicode alphabet of byte-level BPE, and normalization forms
// (utf8proc). Internal to src/tokenizer/.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dsm::tok {

constexpr uint32_t kReplacementChar = 0xFFFD;

// One decoded UTF-8 sequence. For an invalid sequence `cp` is U+FFFD and `len` is the
// length of its maximal subpart (Unicode ch. 3, "U+FFFD substitution of maximal
// subparts"), so that every byte is consumed exactly once.
struct Utf8Char {
    uint32_t cp;
    uint32_t len;
    bool valid;
};
Utf8Char utf8_next(std::string_view s, size_t pos);

bool utf8_valid(std::string_view s);
// Copy of `s` with every invalid sequence replaced by U+FFFD.
std::string utf8_sanitize(std::string_view s);
void utf8_append(std::string& out, uint32_t cp);
// Length of the longest prefix of `s` that does not end inside a truncated (so far
// valid) multi-byte sequence; the rest may still be completed by more bytes.
size_t utf8_complete_prefix(std::string_view s);

// GPT-2 byte-level alphabet: every byte has a printable code point.
uint32_t byte_to_codepoint(uint8_t b);
int codepoint_to_byte(uint32_t cp);  // -1 if cp is not in the alphabet
// Maps raw bytes to their byte-level UTF-8 spelling ("Ġ" for a space ...).
void byte_level_encode(std::string_view bytes, std::string& out);

// Unicode White_Space (what Oniguruma's and Rust's \s match).
bool is_white_space(uint32_t cp);
// General category N* (Rust char::is_numeric).
bool is_numeric(uint32_t cp);
// \w of Rust's regex crate: letters, marks, decimal digits, connector punctuation.
bool is_word_char(uint32_t cp);

enum class NormForm { NFC, NFD, NFKC, NFKD };
std::string normalize(std::string_view s, NormForm form);  // s must be valid UTF-8
std::string lowercase(std::string_view s);                 // s must be valid UTF-8

}  // namespace dsm::tok
