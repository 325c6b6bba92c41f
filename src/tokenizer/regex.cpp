#include "tokenizer/regex.hpp"

#include <pcre2.h>

#include "core/error.hpp"

namespace dsm::tok {

namespace {

// Unicode White_Space as a class body (without the brackets).
constexpr std::string_view kWhiteSpace = "\\t-\\r\\x{85}\\p{Z}";

// One match-data block per thread, reused across calls; only the overall match
// offsets are needed, so one ovector pair is enough.
struct ThreadMatchData {
    pcre2_match_data* md = pcre2_match_data_create(1, nullptr);
    ~ThreadMatchData() { pcre2_match_data_free(md); }
};

pcre2_match_data* thread_match_data() {
    thread_local ThreadMatchData data;
    if (!data.md) throw Error("tokenizer: out of memory for regex match data");
    return data.md;
}

size_t utf8_seq_len(unsigned char b) {
    if (b < 0xC0) return 1;
    if (b < 0xE0) return 2;
    if (b < 0xF0) return 3;
    return 4;
}

}  // namespace

std::string onig_to_pcre2(std::string_view p) {
    std::string out;
    out.reserve(p.size() + 16);
    bool in_class = false;
    size_t i = 0;
    while (i < p.size()) {
        const char c = p[i];
        if (c == '\\' && i + 1 < p.size()) {
            const char e = p[i + 1];
            if (e == 's') {
                if (in_class) out += kWhiteSpace;
                else (out += '[', out += kWhiteSpace, out += ']');
            } else if (e == 'S' && !in_class) {
                out += "[^";
                out += kWhiteSpace;
                out += ']';
            } else {
                out += c;
                out += e;
            }
            i += 2;
            continue;
        }
        if (!in_class && c == '[') {
            in_class = true;
            out += c;
            ++i;
            // A ']' right after '[' or '[^' is a literal, not the end of the class.
            if (i < p.size() && p[i] == '^') out += p[i++];
            if (i < p.size() && p[i] == ']') out += p[i++];
            continue;
        }
        if (in_class && c == '[' && i + 1 < p.size() && p[i + 1] == ':') {
            const size_t end = p.find(":]", i + 2);  // POSIX class such as [:alpha:]
            if (end != std::string_view::npos) {
                out.append(p.substr(i, end + 2 - i));
                i = end + 2;
                continue;
            }
        }
        if (in_class && c == ']') in_class = false;
        out += c;
        ++i;
    }
    return out;
}

Regex::Regex(std::string_view onig_pattern) : pattern_(onig_pattern) {
    const std::string translated = onig_to_pcre2(onig_pattern);
    int err = 0;
    PCRE2_SIZE err_off = 0;
    code_ = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(),
                          PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &err_off, nullptr);
    if (!code_) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        throw Error("tokenizer: cannot compile regex '" + pattern_ + "' at offset " + std::to_string(err_off) +
                    ": " + reinterpret_cast<const char*>(msg));
    }
    pcre2_jit_compile(code_, PCRE2_JIT_COMPLETE);  // best effort: the interpreter is the fallback
}

Regex::~Regex() { pcre2_code_free(code_); }

void Regex::find_all(std::string_view subject, std::vector<Range>& out) const {
    pcre2_match_data* md = thread_match_data();
    const auto* s = reinterpret_cast<PCRE2_SPTR>(subject.data());
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t offset = 0;
    uint32_t options = PCRE2_NO_UTF_CHECK;
    while (offset <= subject.size()) {
        int rc = pcre2_match(code_, s, subject.size(), offset, options, md, nullptr);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT) {
            options |= PCRE2_NO_JIT;  // deep backtracking: the interpreter keeps its frames on the heap
            continue;
        }
        if (rc == PCRE2_ERROR_NOMATCH) break;
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            throw Error("tokenizer: regex '" + pattern_ + "' failed: " + reinterpret_cast<const char*>(msg));
        }
        const size_t b = ov[0], e = ov[1];
        if (e > b) {
            out.emplace_back(b, e);
            offset = e;
        } else {  // empty match: step over one character
            if (b >= subject.size()) break;
            offset = b + utf8_seq_len(uint8_t(subject[b]));
        }
    }
}

}  // namespace dsm::tok
