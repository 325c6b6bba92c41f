// Tokenizer for the Jinja subset used by chat templates. It applies the whitespace
// rules the way Jinja2 does with Hugging Face's settings (trim_blocks and
// lstrip_blocks on, keep_trailing_newline off): `{%-`/`-%}` strip, `{%+`/`+%}` keep,
// newlines normalized to "\n", one trailing newline of the source dropped.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dsm::jinja {

enum class Tok : uint8_t {
    Text,        // literal template text (value)
    VarBegin,    // {{
    VarEnd,      // }}
    BlockBegin,  // {%
    BlockEnd,    // %}
    Name,
    String,      // value holds the decoded string
    Int,
    Float,
    Op,          // value holds the operator
    Eof,
};

struct Token {
    Tok type;
    std::string value;
    int64_t int_value = 0;
    double float_value = 0.0;
    int line = 1;
    int col = 1;
};

// Throws dsm::Error "chat template syntax error at line L, column C: ..." on bad input.
std::vector<Token> tokenize(const std::string& source);

// Formats "chat template syntax error at line L, column C: what".
std::string syntax_error_message(int line, int col, const std::string& what);

}  // namespace dsm::jinja
