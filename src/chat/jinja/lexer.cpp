#include "chat/jinja/lexer.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cmath>
#include <cstring>

#include "chat/jinja/value.hpp"
#include "core/error.hpp"

namespace dsm::jinja {

std::string syntax_error_message(int line, int col, const std::string& what) {
    return "chat template syntax error at line " + std::to_string(line) + ", column " + std::to_string(col) + ": " +
           what;
}

namespace {

// Jinja2 replaces every \r\n, \r and \n by "\n" and drops one trailing newline.
std::string normalize_newlines(const std::string& in) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        if (in[i] == '\r') {
            out += '\n';
            if (i + 1 < in.size() && in[i + 1] == '\n') ++i;
        } else {
            out += in[i];
        }
    }
    if (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
}

// Python str.isspace() test for the code point starting at s[i]; sets *len to its size.
bool space_at(const std::string& s, size_t i, size_t* len) {
    auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {
        *len = 1;
        return is_py_space(b);
    }
    size_t n = (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 1;
    n = std::min(n, s.size() - i);
    *len = n;
    std::vector<size_t> offs = utf8_offsets(std::string_view(s).substr(i, n));
    return offs.size() == 2 && is_py_space(utf8_first(std::string_view(s).substr(i, n)));
}

size_t skip_space(const std::string& s, size_t i) {
    size_t len;
    while (i < s.size() && space_at(s, i, &len)) i += len;
    return i;
}

std::string rstrip_space(const std::string& s) {
    std::vector<size_t> offs = utf8_offsets(s);
    size_t keep = offs.size() - 1;
    while (keep > 0) {
        size_t len;
        if (!space_at(s, offs[keep - 1], &len) || offs[keep - 1] + len != offs[keep]) break;
        --keep;
    }
    return s.substr(0, offs[keep]);
}

bool all_space(const std::string& s, size_t from) {
    size_t len;
    for (size_t i = from; i < s.size(); i += len)
        if (!space_at(s, i, &len)) return false;
    return true;
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

class Lexer {
public:
    explicit Lexer(const std::string& raw) : src_(normalize_newlines(raw)) {
        line_starts_.push_back(0);
        for (size_t i = 0; i < src_.size(); ++i)
            if (src_[i] == '\n') line_starts_.push_back(i + 1);
    }

    std::vector<Token> run() {
        size_t pos = 0;
        bool line_starting = true;  // previous tag ended with a newline (or start of input)
        while (pos < src_.size()) {
            size_t open = find_opener(pos);
            if (open == std::string::npos) {
                emit_text(src_.substr(pos), pos);
                break;
            }
            char kind = src_[open + 1];
            size_t after = open + 2;
            char sign = (after < src_.size() && (src_[after] == '-' || src_[after] == '+')) ? src_[after] : 0;
            if (sign) ++after;
            std::string text = src_.substr(pos, open - pos);
            if (sign == '-') {
                text = rstrip_space(text);
            } else if (sign != '+' && kind != '{') {
                // lstrip_blocks: drop the indentation before a block or comment tag that
                // starts its line.
                size_t l_pos = text.rfind('\n');
                l_pos = (l_pos == std::string::npos) ? 0 : l_pos + 1;
                if ((l_pos > 0 || line_starting) && l_pos < text.size() && all_space(text, l_pos))
                    text.resize(l_pos);
            }
            emit_text(text, pos);
            size_t raw_body;
            if (kind == '#') {
                pos = lex_comment(open, after, &line_starting);
            } else if (kind == '%' && is_raw_begin(after, &raw_body)) {
                pos = lex_raw(open, raw_body, &line_starting);
            } else {
                pos = lex_tag(open, after, kind == '%', &line_starting);
            }
        }
        push(Tok::Eof, "", src_.size());
        return std::move(tokens_);
    }

private:
    [[noreturn]] void fail(size_t offset, const std::string& what) {
        auto [line, col] = position(offset);
        throw Error(syntax_error_message(line, col, what));
    }

    // Line and column (in code points) of a byte offset. Tokens arrive in increasing
    // order, so the column is advanced from the previous one instead of recounted
    // from the line start (which would be quadratic on long one-line templates).
    std::pair<int, int> position(size_t offset) {
        auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), offset);
        size_t line_start = *(it - 1);
        int line = static_cast<int>(it - line_starts_.begin());
        if (line != pos_line_ || offset < pos_offset_) {
            pos_line_ = line;
            pos_offset_ = line_start;
            pos_col_ = 1;
        }
        pos_col_ += static_cast<int>(utf8_length(std::string_view(src_).substr(pos_offset_, offset - pos_offset_)));
        pos_offset_ = offset;
        return {line, pos_col_};
    }

    Token& push(Tok type, std::string value, size_t offset) {
        auto [line, col] = position(offset);
        tokens_.push_back(Token{type, std::move(value), 0, 0.0, line, col});
        return tokens_.back();
    }

    void emit_text(const std::string& text, size_t offset) {
        if (!text.empty()) push(Tok::Text, text, offset);
    }

    size_t find_opener(size_t pos) const {
        while (true) {
            size_t p = src_.find('{', pos);
            if (p == std::string::npos || p + 1 >= src_.size()) return std::string::npos;
            char c = src_[p + 1];
            if (c == '{' || c == '%' || c == '#') return p;
            pos = p + 1;
        }
    }

    // After a closing delimiter at `end`: `-` strips following whitespace, trim_blocks
    // removes one newline after block and comment tags. Returns the new position.
    size_t after_close(size_t end, char sign, bool trim_newline, bool* line_starting) {
        size_t pos = end;
        if (sign == '-') pos = skip_space(src_, pos);
        else if (sign != '+' && trim_newline && pos < src_.size() && src_[pos] == '\n') ++pos;
        *line_starting = pos > 0 && src_[pos - 1] == '\n' && pos > end;
        return pos;
    }

    size_t lex_comment(size_t open, size_t body, bool* line_starting) {
        size_t close = src_.find("#}", body);
        if (close == std::string::npos) fail(open, "unterminated comment (missing '#}')");
        char sign = 0;
        if (close > body && (src_[close - 1] == '-' || src_[close - 1] == '+')) sign = src_[close - 1];
        return after_close(close + 2, sign, true, line_starting);
    }

    // `{% raw %}`: sets *body to where the raw text starts.
    bool is_raw_begin(size_t after, size_t* body) const {
        size_t p = skip_space(src_, after);
        if (src_.compare(p, 3, "raw") != 0 || (p + 3 < src_.size() && is_name_char(src_[p + 3]))) return false;
        p = skip_space(src_, p + 3);
        if (src_.compare(p, 3, "-%}") == 0) {
            *body = skip_space(src_, p + 3);
            return true;
        }
        if (src_.compare(p, 2, "%}") == 0) {
            *body = p + 2;
            return true;
        }
        return false;
    }

    size_t lex_raw(size_t open, size_t body, bool* line_starting) {
        bool body_line_starting = body > 0 && src_[body - 1] == '\n';
        for (size_t p = src_.find("{%", body); p != std::string::npos; p = src_.find("{%", p + 2)) {
            size_t q = p + 2;
            char sign = (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ? src_[q] : 0;
            if (sign) ++q;
            q = skip_space(src_, q);
            if (src_.compare(q, 6, "endraw") != 0) continue;
            q = skip_space(src_, q + 6);
            char end_sign = (q < src_.size() && (src_[q] == '-' || src_[q] == '+')) ? src_[q] : 0;
            if (end_sign) ++q;
            if (src_.compare(q, 2, "%}") != 0) continue;
            std::string text = src_.substr(body, p - body);
            if (sign == '-') {
                text = rstrip_space(text);
            } else if (sign != '+') {
                size_t l_pos = text.rfind('\n');
                l_pos = (l_pos == std::string::npos) ? 0 : l_pos + 1;
                if ((l_pos > 0 || body_line_starting) && l_pos < text.size() && all_space(text, l_pos))
                    text.resize(l_pos);
            }
            emit_text(text, body);
            return after_close(q + 2, end_sign, true, line_starting);
        }
        fail(open, "missing {% endraw %} for this {% raw %}");
    }

    size_t lex_tag(size_t open, size_t pos, bool block, bool* line_starting) {
        push(block ? Tok::BlockBegin : Tok::VarBegin, "", open);
        std::vector<char> brackets;
        while (true) {
            pos = skip_space(src_, pos);
            if (pos >= src_.size())
                fail(open, block ? "unexpected end of template inside {% ... %} (missing '%}')"
                                 : "unexpected end of template inside {{ ... }} (missing '}}')");
            if (brackets.empty()) {
                const char* close = block ? "%}" : "}}";
                char c = src_[pos];
                size_t close_at = std::string::npos;
                char sign = 0;
                if ((c == '-' || (c == '+' && block)) && src_.compare(pos + 1, 2, close) == 0) {
                    sign = c;
                    close_at = pos + 1;
                } else if (src_.compare(pos, 2, close) == 0) {
                    close_at = pos;
                }
                if (close_at != std::string::npos) {
                    push(block ? Tok::BlockEnd : Tok::VarEnd, "", pos);
                    return after_close(close_at + 2, sign, block, line_starting);
                }
            }
            pos = lex_expression_token(pos, brackets);
        }
    }

    size_t lex_expression_token(size_t pos, std::vector<char>& brackets) {
        char c = src_[pos];
        if (is_name_start(c)) {
            size_t end = pos;
            while (end < src_.size() && is_name_char(src_[end])) ++end;
            push(Tok::Name, src_.substr(pos, end - pos), pos);
            return end;
        }
        if (is_digit(c)) return lex_number(pos);
        if (c == '\'' || c == '"') return lex_string(pos);
        static const char* const two_char_ops[] = {"//", "**", "==", "!=", "<=", ">="};
        for (const char* op : two_char_ops) {
            if (src_.compare(pos, 2, op) == 0) {
                push(Tok::Op, op, pos);
                return pos + 2;
            }
        }
        if (std::strchr("+-/*%~[](){}<>=.:|,;", c) == nullptr || c == '\0') {
            auto b = static_cast<unsigned char>(c);
            char buf[32];
            if (b >= 0x20 && b < 0x7f) std::snprintf(buf, sizeof buf, "'%c'", c);
            else std::snprintf(buf, sizeof buf, "byte 0x%02x", b);
            fail(pos, std::string("unexpected character ") + buf);
        }
        if (c == '(' || c == '[' || c == '{') {
            brackets.push_back(c);
        } else if (c == ')' || c == ']' || c == '}') {
            char want = c == ')' ? '(' : c == ']' ? '[' : '{';
            if (brackets.empty() || brackets.back() != want) fail(pos, std::string("unexpected '") + c + "'");
            brackets.pop_back();
        }
        push(Tok::Op, std::string(1, c), pos);
        return pos + 1;
    }

    // Digits with optional '_' separators.
    size_t digits_end(size_t p) const {
        while (p < src_.size() && (is_digit(src_[p]) || (src_[p] == '_' && p + 1 < src_.size() && is_digit(src_[p + 1]))))
            ++p;
        return p;
    }

    size_t lex_number(size_t pos) {
        size_t end = digits_end(pos);
        bool is_float = false;
        bool after_dot = !tokens_.empty() && tokens_.back().type == Tok::Op && tokens_.back().value == ".";
        if (!after_dot) {  // `a.0.1` is two subscripts, not a float
            if (end + 1 < src_.size() && src_[end] == '.' && is_digit(src_[end + 1])) {
                end = digits_end(end + 1);
                is_float = true;
            }
            if (end < src_.size() && (src_[end] == 'e' || src_[end] == 'E')) {
                size_t e = end + 1;
                if (e < src_.size() && (src_[e] == '+' || src_[e] == '-')) ++e;
                if (e < src_.size() && is_digit(src_[e])) {
                    end = digits_end(e);
                    is_float = true;
                }
            }
        }
        std::string text;
        for (size_t i = pos; i < end; ++i)
            if (src_[i] != '_') text += src_[i];
        Token& t = push(is_float ? Tok::Float : Tok::Int, text, pos);
        if (is_float) {
            auto res = std::from_chars(text.data(), text.data() + text.size(), t.float_value);
            if (res.ec == std::errc::result_out_of_range)  // Python gives inf or 0.0
                t.float_value = text.find("e-") != std::string::npos || text.find("E-") != std::string::npos
                                    ? 0.0
                                    : HUGE_VAL;
        } else {
            int64_t v = 0;
            for (char d : text) {
                if (v > (INT64_MAX - (d - '0')) / 10) fail(pos, "integer literal too large");
                v = v * 10 + (d - '0');
            }
            t.int_value = v;
        }
        return end;
    }

    // Decodes like Python's "unicode-escape" codec, which Jinja2 applies to literals.
    size_t lex_string(size_t pos) {
        char quote = src_[pos];
        std::string out;
        size_t i = pos + 1;
        while (true) {
            if (i >= src_.size()) fail(pos, "unterminated string literal");
            char c = src_[i];
            if (c == quote) break;
            if (c != '\\') {
                out += c;
                ++i;
                continue;
            }
            if (i + 1 >= src_.size()) fail(pos, "unterminated string literal");
            char e = src_[i + 1];
            i += 2;
            switch (e) {
                case '\n': break;  // line continuation
                case '\\': out += '\\'; break;
                case '\'': out += '\''; break;
                case '"': out += '"'; break;
                case 'a': out += '\a'; break;
                case 'b': out += '\b'; break;
                case 'f': out += '\f'; break;
                case 'n': out += '\n'; break;
                case 'r': out += '\r'; break;
                case 't': out += '\t'; break;
                case 'v': out += '\v'; break;
                case 'x':
                case 'u':
                case 'U': {
                    size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                    uint32_t cp = 0;
                    for (size_t k = 0; k < n; ++k) {
                        if (i + k >= src_.size() || !is_hex(src_[i + k]))
                            fail(i - 2, std::string("invalid \\") + e + " escape in string literal");
                        char h = src_[i + k];
                        cp = cp * 16 + static_cast<uint32_t>(is_digit(h) ? h - '0' : (h | 0x20) - 'a' + 10);
                    }
                    if (cp > 0x10ffff) fail(i - 2, "escape outside the Unicode range in string literal");
                    if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd;  // lone surrogate
                    utf8_append(out, cp);
                    i += n;
                    break;
                }
                case 'N': fail(i - 2, "\\N{...} escapes are not supported");
                default:
                    if (e >= '0' && e <= '7') {
                        uint32_t cp = static_cast<uint32_t>(e - '0');
                        for (int k = 0; k < 2 && i < src_.size() && src_[i] >= '0' && src_[i] <= '7'; ++k, ++i)
                            cp = cp * 8 + static_cast<uint32_t>(src_[i] - '0');
                        utf8_append(out, cp);
                    } else if (static_cast<unsigned char>(e) >= 0x80) {
                        // Jinja escapes non-ASCII first, so "\é" reads as "\" + "\xe9".
                        size_t start = i - 1;
                        std::vector<size_t> offs = utf8_offsets(std::string_view(src_).substr(start, 4));
                        std::string ch = src_.substr(start, offs[1]);
                        uint32_t cp = utf8_first(ch);
                        char buf[16];
                        if (cp < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", cp);
                        else if (cp < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", cp);
                        else std::snprintf(buf, sizeof buf, "\\U%08x", cp);
                        out += '\\';
                        out += buf;
                        i = start + offs[1];
                    } else {
                        out += '\\';  // unknown escapes are kept as written
                        out += e;
                    }
            }
        }
        push(Tok::String, std::move(out), pos);
        return i + 1;
    }

    std::string src_;
    std::vector<size_t> line_starts_;
    std::vector<Token> tokens_;
    int pos_line_ = 0, pos_col_ = 1;  // cache of position()
    size_t pos_offset_ = 0;
};

}  // namespace

std::vector<Token> tokenize(const std::string& source) { return Lexer(source).run(); }

}  // namespace dsm::jinja
