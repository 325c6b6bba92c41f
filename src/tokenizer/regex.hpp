// PCRE2 wrapper for the split/replace patterns of tokenizers. The patterns are
// written for Oniguruma (what Hugging Face tokenizers uses), so a few escapes are
// rewritten before compiling: \s / \S mean Unicode White_Space there (U+0085 in,
// U+FEFF out), and ^ / $ match at line boundaries. Internal to src/tokenizer/.
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

struct pcre2_real_code_8;

namespace dsm::tok {

// Rewrites an Oniguruma pattern into an equivalent PCRE2 pattern (see above).
std::string onig_to_pcre2(std::string_view pattern);

class Regex {
public:
    using Range = std::pair<size_t, size_t>;  // [begin, end) byte offsets

    // Compiles with PCRE2_UTF | PCRE2_UCP (and JIT where available); throws
    // dsm::Error naming the pattern if it does not compile.
    explicit Regex(std::string_view onig_pattern);
    ~Regex();
    Regex(const Regex&) = delete;
    Regex& operator=(const Regex&) = delete;

    // Appends every non-overlapping, non-empty match in `subject`, left to right.
    // `subject` must be valid UTF-8 (it is not checked again, for speed).
    void find_all(std::string_view subject, std::vector<Range>& out) const;

    const std::string& pattern() const { return pattern_; }

private:
    std::string pattern_;
    pcre2_real_code_8* code_ = nullptr;
};

}  // namespace dsm::tok
