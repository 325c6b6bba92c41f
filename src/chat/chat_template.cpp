#include "chat/chat_template.hpp"

#include "chat/builtin_templates.hpp"
#include "chat/jinja/ast.hpp"
#include "chat/jinja/interpreter.hpp"
#include "core/error.hpp"

namespace dsm {

nlohmann::json chat_messages_to_json(const std::vector<ChatMessage>& messages) {
    nlohmann::json out = nlohmann::json::array();
    for (const ChatMessage& m : messages) {
        nlohmann::json j = {{"role", m.role}, {"content", m.content}};
        if (!m.reasoning_content.empty()) j["reasoning_content"] = m.reasoning_content;
        out.push_back(std::move(j));
    }
    return out;
}

ChatTemplate::ChatTemplate(std::string source, std::shared_ptr<const jinja::Template> tmpl,
                           const ChatTemplateLimits& limits)
    : source_(std::move(source)), tmpl_(std::move(tmpl)), limits_(limits) {}

ChatTemplate ChatTemplate::from_source(std::string source, const ChatTemplateLimits& limits) {
    std::shared_ptr<const jinja::Template> tmpl = jinja::parse_template(source, limits.max_parse_depth);
    return ChatTemplate(std::move(source), std::move(tmpl), limits);
}

ChatTemplate ChatTemplate::builtin(std::string_view name) { return from_source(builtin_source(name)); }

std::vector<std::string> ChatTemplate::builtin_names() { return builtin_template_names(); }

std::string ChatTemplate::builtin_source(std::string_view name) {
    const char* src = builtin_template_source(name);
    if (src == nullptr) {
        std::string known;
        for (const auto& n : builtin_template_names()) known += (known.empty() ? "" : ", ") + n;
        throw Error("unknown builtin chat template '" + std::string(name) + "' (known: " + known + ")");
    }
    return src;
}

std::optional<std::string> ChatTemplate::detect(std::string_view source) {
    auto has = [&](std::string_view marker) { return source.find(marker) != std::string_view::npos; };
    if (has("<｜User｜>") || has("<｜Assistant｜>")) {
        if (has("<think>") || has("</think>")) return "deepseek-r1";
        // V3 joins all system messages with a blank line; V2.5 keeps the last one.
        if (has("is_first_sp") || has("'\\n\\n' + message") || has("'\n\n' + message")) return "deepseek3";
        if (has("system_prompt")) return "deepseek2";
        return std::nullopt;  // e.g. V2-Chat-0628, which writes system text in place
    }
    if (has("User: ") && has("Assistant:")) return "deepseek";
    if (has("<|im_start|>")) {
        if (has("<think>")) return std::nullopt;  // reasoning ChatML variants (Qwen3, QwQ)
        if (has("You are Qwen, created by Alibaba Cloud")) return "qwen2.5";
        if (has("You are a helpful assistant.")) return "qwen2";
        return "chatml";
    }
    return std::nullopt;
}

namespace {

template <class Json>
std::string render_json(const jinja::Template& tmpl, const ChatTemplateLimits& limits, const Json& messages,
                        bool add_generation_prompt, const Json& extra) {
    if (!messages.is_array()) throw Error("chat template: messages must be a JSON array");
    if (!extra.is_null() && !extra.is_object()) throw Error("chat template: extra_context must be a JSON object");
    auto globals = std::make_shared<jinja::ObjectData>();
    jinja::install_globals(*globals);
    globals->set("tools", jinja::Value::none());
    globals->set("documents", jinja::Value::none());
    if (extra.is_object()) {
        for (auto it = extra.begin(); it != extra.end(); ++it) {
            if (it.key() == "messages" || it.key() == "add_generation_prompt")
                throw Error("chat template: extra_context must not set '" + it.key() + "'");
            globals->set(it.key(), jinja::from_json(it.value()));
        }
    }
    globals->set("messages", jinja::from_json(messages));
    globals->set("add_generation_prompt", jinja::Value(add_generation_prompt));
    jinja::Interpreter interpreter(tmpl, limits);
    return interpreter.render(std::move(globals));
}

}  // namespace

std::string ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                 const nlohmann::json& extra_context) const {
    return render_json(*tmpl_, limits_, messages, add_generation_prompt, extra_context);
}

std::string ChatTemplate::render(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                 const nlohmann::ordered_json& extra_context) const {
    return render_json(*tmpl_, limits_, messages, add_generation_prompt, extra_context);
}

std::string ChatTemplate::render(const std::vector<ChatMessage>& messages, bool add_generation_prompt,
                                 const nlohmann::json& extra_context) const {
    return render(chat_messages_to_json(messages), add_generation_prompt, extra_context);
}

}  // namespace dsm
