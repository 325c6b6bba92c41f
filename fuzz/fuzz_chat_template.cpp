// libFuzzer target: arbitrary bytes as a chat template, rendered with a small fixed
// conversation. Every failure must be a dsm::Error; anything else (crash, hang,
// other exception, leak) is a bug. Limits are tighter than the defaults so that each
// input finishes in milliseconds.
#include <cstddef>
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "chat/chat_template.hpp"
#include "core/error.hpp"

namespace {

const nlohmann::ordered_json& messages() {
    static const nlohmann::ordered_json m = nlohmann::ordered_json::parse(R"JSON([
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi <b>&</b> 'x' {{ y }} \u00e9\ud83d\ude00"},
        {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello!", "reasoning_content": "hm"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "get_weather", "arguments": {"city": "Paris", "days": [1, 2.5, true, null]}}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "{\"temp\": 20}"},
        {"role": "user", "content": ""}
    ])JSON");
    return m;
}

const nlohmann::ordered_json& extra() {
    static const nlohmann::ordered_json e = nlohmann::ordered_json::parse(R"JSON({
        "bos_token": "<s>", "eos_token": "</s>", "enable_thinking": false,
        "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
    })JSON");
    return e;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    dsm::ChatTemplateLimits limits;
    limits.max_steps = 200'000;
    limits.max_output_bytes = 1u << 20;
    limits.max_depth = 200;
    limits.max_parse_depth = 100;
    try {
        dsm::ChatTemplate tmpl =
            dsm::ChatTemplate::from_source(std::string(reinterpret_cast<const char*>(data), size), limits);
        tmpl.render(messages(), true, extra());
    } catch (const dsm::Error&) {
        // Rejected input: the expected outcome for most fuzz inputs.
    }
    return 0;
}
