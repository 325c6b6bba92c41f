// Chat templates: turn a conversation into the prompt text a model was trained on.
//
// Templates are Jinja2 sources as shipped in Hugging Face `tokenizer_config.json`
// (`chat_template`) or GGUF metadata (`tokenizer.chat_template`). They run in a small
// Jinja interpreter (src/chat/jinja/) that follows Jinja2 with Hugging Face's settings:
// trim_blocks and lstrip_blocks on, loop controls, the sandbox's immutable data, and
// HF's `tojson`, `raise_exception` and `strftime_now`. Rendering is bounded (steps,
// nesting, output size), so hostile templates fail with dsm::Error instead of hanging.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/jinja/limits.hpp"

namespace dsm {

namespace jinja {
struct Template;
}

struct ChatMessage {
    std::string role;
    std::string content;
    std::string reasoning_content;  // optional; left out of the template input when empty
};

// The messages as template input: [{"role", "content"[, "reasoning_content"]}, ...].
nlohmann::json chat_messages_to_json(const std::vector<ChatMessage>& messages);

using ChatTemplateLimits = jinja::Limits;

class ChatTemplate {
public:
    using Limits = ChatTemplateLimits;

    // From a model's Jinja source. Throws dsm::Error "chat template syntax error at line
    // L, column C: ..." when the source does not parse.
    static ChatTemplate from_source(std::string source, const ChatTemplateLimits& limits = {});

    // Built-in templates, written to give the same output as the official ones:
    //   "deepseek"     DeepSeek-LLM chat and DeepSeek-V2-Chat ("User: ...\n\nAssistant:")
    //   "deepseek2"    DeepSeek-V2.5 (<｜User｜>/<｜Assistant｜>, last system message, tools)
    //   "deepseek3"    DeepSeek-V3 (system messages joined by "\n\n", tools)
    //   "deepseek-r1"  DeepSeek-R1 and its distills: like deepseek3, but earlier turns lose
    //                  their "...</think>" reasoning and the generation prompt opens
    //                  "<think>\n"
    //   "chatml"       plain ChatML (<|im_start|>role\n...<|im_end|>\n)
    //   "qwen2"        ChatML with Qwen2's default system prompt
    //   "qwen2.5"      Qwen2.5 (default system prompt, tools)
    // Aliases: deepseek-llm, deepseek-v2.5, deepseek-v3, r1, qwen (= qwen2).
    // They read bos_token / eos_token from the render context like the originals.
    // Throws dsm::Error for an unknown name.
    static ChatTemplate builtin(std::string_view name);
    static std::vector<std::string> builtin_names();
    static std::string builtin_source(std::string_view name);

    // Guesses the builtin that matches a template source from its markers
    // ("<｜Assistant｜>", "<think>", "<|im_start|>", ...); nullopt if unknown.
    static std::optional<std::string> detect(std::string_view source);

    // Renders `messages` (a JSON array of message objects). `extra_context` (an object
    // or null) adds variables such as bos_token, eos_token, tools, enable_thinking.
    // Like transformers, `tools` and `documents` are none unless given. With
    // nlohmann::json, object keys reach the template sorted; use ordered_json to keep
    // their order (it shows in `tojson` output). Template failures (raise_exception,
    // type errors, exceeded limits) throw dsm::Error "chat template error at line L,
    // column C: ...". Concurrent renders of one ChatTemplate are safe.
    std::string render(const nlohmann::json& messages, bool add_generation_prompt,
                       const nlohmann::json& extra_context = {}) const;
    std::string render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                       const nlohmann::ordered_json& extra_context = {}) const;
    std::string render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                       const nlohmann::json& extra_context = {}) const;

    const std::string& source() const { return source_; }
    const ChatTemplateLimits& limits() const { return limits_; }
    void set_limits(const ChatTemplateLimits& limits) { limits_ = limits; }

private:
    ChatTemplate(std::string source, std::shared_ptr<const jinja::Template> tmpl, const ChatTemplateLimits& limits);

    std::string source_;
    std::shared_ptr<const jinja::Template> tmpl_;
    ChatTemplateLimits limits_;
};

}  // namespace dsm
