// libFuzzer target: arbitrary bytes as tokenizer.json. Loading may fail with
// dsm::Error; if it loads, encoding, decoding and streaming must not crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace {

void exercise(const dsm::Tokenizer& tok, std::string_view text) {
    for (bool parse_special : {false, true}) {
        const auto ids = tok.encode(text, true, parse_special);
        (void)tok.decode(ids, false);
        (void)tok.decode(ids, true);
        dsm::StreamDecoder stream(tok);
        for (const int32_t id : ids) (void)stream.push(id);
        (void)stream.flush();
    }
    for (int32_t id = 0; id < tok.n_vocab() && id < 64; ++id) (void)tok.token_to_piece(id);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    std::unique_ptr<dsm::Tokenizer> tok;
    try {
        tok = dsm::Tokenizer::from_hf_json(input, "");
    } catch (const dsm::Error&) {
        return 0;
    }
    try {
        exercise(*tok, "Hello w\xC3\xB6rld 1234 <s> </s> <|im_end|>\n\t \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\x98\x80 \xFF");
        exercise(*tok, input);  // the input itself as text: arbitrary, often invalid UTF-8
        (void)tok->to_vocab_spec();
    } catch (const dsm::Error&) {
        // Errors on text are allowed only from a malformed tokenizer (e.g. a regex
        // over its match limit, or normalizers that blow the text up).
    }
    return 0;
}
