#include "tokenizer/unicode.hpp"

#include <utf8proc.h>

#include <array>
#include <cstdlib>

#include "core/error.hpp"

namespace dsm::tok {

namespace {

// Valid range of the second byte for each lead byte (Unicode Table 3-7); later
// continuation bytes are always 0x80..0xBF.
struct LeadInfo {
    uint8_t len;
    uint8_t lo;
    uint8_t hi;
};

LeadInfo lead_info(uint8_t b) {
    if (b < 0x80) return {1, 0, 0};
    if (b >= 0xC2 && b <= 0xDF) return {2, 0x80, 0xBF};
    if (b == 0xE0) return {3, 0xA0, 0xBF};
    if (b == 0xED) return {3, 0x80, 0x9F};
    if (b >= 0xE1 && b <= 0xEF) return {3, 0x80, 0xBF};
    if (b == 0xF0) return {4, 0x90, 0xBF};
    if (b >= 0xF1 && b <= 0xF3) return {4, 0x80, 0xBF};
    if (b == 0xF4) return {4, 0x80, 0x8F};
    return {0, 0, 0};  // 0x80..0xC1, 0xF5..0xFF never start a sequence
}

struct ByteLevelTables {
    std::array<uint32_t, 256> to_cp{};
    std::array<std::string, 256> to_utf8{};
    ByteLevelTables() {
        // Printable Latin-1 bytes keep their code point; the others are moved to
        // U+0100 upwards, in byte order (GPT-2's bytes_to_unicode).
        uint32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool keep = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
            to_cp[b] = keep ? uint32_t(b) : next++;
            utf8_append(to_utf8[b], to_cp[b]);
        }
    }
};

const ByteLevelTables& byte_tables() {
    static const ByteLevelTables t;
    return t;
}

std::string utf8proc_transform(std::string_view s, int options) {
    utf8proc_uint8_t* out = nullptr;
    const utf8proc_ssize_t n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                                            utf8proc_ssize_t(s.size()), &out,
                                            utf8proc_option_t(options));
    if (n < 0) throw Error(std::string("tokenizer: Unicode normalization failed: ") + utf8proc_errmsg(n));
    std::string result(reinterpret_cast<char*>(out), size_t(n));
    std::free(out);
    return result;
}

bool all_ascii(std::string_view s) {
    for (unsigned char c : s)
        if (c >= 0x80) return false;
    return true;
}

}  // namespace

Utf8Char utf8_next(std::string_view s, size_t pos) {
    const auto b0 = uint8_t(s[pos]);
    const LeadInfo li = lead_info(b0);
    if (li.len == 1) return {b0, 1, true};
    if (li.len == 0) return {kReplacementChar, 1, false};
    uint32_t cp = b0 & (0xFF >> (li.len + 1));
    for (uint32_t i = 1; i < li.len; ++i) {
        if (pos + i >= s.size()) return {kReplacementChar, i, false};
        const auto b = uint8_t(s[pos + i]);
        const uint8_t lo = i == 1 ? li.lo : 0x80;
        const uint8_t hi = i == 1 ? li.hi : 0xBF;
        if (b < lo || b > hi) return {kReplacementChar, i, false};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {cp, li.len, true};
}

bool utf8_valid(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        if (uint8_t(s[i]) < 0x80) {
            ++i;
            continue;
        }
        const Utf8Char c = utf8_next(s, i);
        if (!c.valid) return false;
        i += c.len;
    }
    return true;
}

std::string utf8_sanitize(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const Utf8Char c = utf8_next(s, i);
        if (c.valid)
            out.append(s.substr(i, c.len));
        else
            utf8_append(out, kReplacementChar);
        i += c.len;
    }
    return out;
}

void utf8_append(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
        out += char(cp);
    } else if (cp < 0x800) {
        out += char(0xC0 | (cp >> 6));
        out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        out += char(0xE0 | (cp >> 12));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    } else {
        out += char(0xF0 | (cp >> 18));
        out += char(0x80 | ((cp >> 12) & 0x3F));
        out += char(0x80 | ((cp >> 6) & 0x3F));
        out += char(0x80 | (cp & 0x3F));
    }
}

size_t utf8_complete_prefix(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        const Utf8Char c = utf8_next(s, i);
        if (!c.valid && i + c.len == s.size() && lead_info(uint8_t(s[i])).len > c.len)
            return i;  // valid so far, cut short by the end of the buffer
        i += c.len;
    }
    return s.size();
}

uint32_t byte_to_codepoint(uint8_t b) { return byte_tables().to_cp[b]; }

int codepoint_to_byte(uint32_t cp) {
    if ((cp >= 33 && cp <= 126) || (cp >= 161 && cp <= 172) || (cp >= 174 && cp <= 255)) return int(cp);
    if (cp < 256 || cp >= 256 + 68) return -1;  // 68 bytes are remapped
    static const std::array<int16_t, 68> inverse = [] {
        std::array<int16_t, 68> inv{};
        for (int b = 0; b < 256; ++b) {
            const uint32_t c = byte_tables().to_cp[b];
            if (c >= 256) inv[c - 256] = int16_t(b);
        }
        return inv;
    }();
    return inverse[cp - 256];
}

void byte_level_encode(std::string_view bytes, std::string& out) {
    const auto& t = byte_tables();
    for (unsigned char b : bytes) out += t.to_utf8[b];
}

bool is_white_space(uint32_t cp) {
    if (cp <= 0x20) return cp == 0x20 || (cp >= 0x09 && cp <= 0x0D);
    if (cp < 0x85) return false;
    switch (cp) {
        case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
            return true;
        default:
            return cp >= 0x2000 && cp <= 0x200A;
    }
}

bool is_numeric(uint32_t cp) {
    if (cp < 0x80) return cp >= '0' && cp <= '9';
    const auto cat = utf8proc_category(utf8proc_int32_t(cp));
    return cat == UTF8PROC_CATEGORY_ND || cat == UTF8PROC_CATEGORY_NL || cat == UTF8PROC_CATEGORY_NO;
}

bool is_word_char(uint32_t cp) {
    if (cp < 0x80) return (cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || cp == '_';
    switch (utf8proc_category(utf8proc_int32_t(cp))) {
        case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO: case UTF8PROC_CATEGORY_MN:
        case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME: case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_PC:
            return true;
        default:
            return cp == 0x200C || cp == 0x200D;  // Join_Control
    }
}

std::string normalize(std::string_view s, NormForm form) {
    if (all_ascii(s)) return std::string(s);  // ASCII is invariant under every form
    int options = UTF8PROC_STABLE;
    switch (form) {
        case NormForm::NFC: options |= UTF8PROC_COMPOSE; break;
        case NormForm::NFD: options |= UTF8PROC_DECOMPOSE; break;
        case NormForm::NFKC: options |= UTF8PROC_COMPOSE | UTF8PROC_COMPAT; break;
        case NormForm::NFKD: options |= UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT; break;
    }
    return utf8proc_transform(s, options);
}

std::string lowercase(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        const Utf8Char c = utf8_next(s, i);
        utf8_append(out, uint32_t(utf8proc_tolower(utf8proc_int32_t(c.cp))));
        i += c.len;
    }
    return out;
}

}  // namespace dsm::tok
