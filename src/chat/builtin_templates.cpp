// Built-in chat templates. These are our own Jinja sources, written to render exactly
// what the official templates of each model family render (tests/chat compares them
// with the real templates where those are available as test data).
#include "chat/builtin_templates.hpp"

#include <string>
#include <utility>

namespace dsm {

namespace {

// DeepSeek-LLM chat and DeepSeek-V2-Chat.
const char* const kDeepSeekLlm = R"JINJA(
{%- if add_generation_prompt is not defined %}
    {%- set add_generation_prompt = false %}
{%- endif %}
{{- bos_token }}
{%- for message in messages %}
    {%- if message.role == 'user' %}
        {{- 'User: ' + message.content + '\n\n' }}
    {%- elif message.role == 'assistant' %}
        {{- 'Assistant: ' + message.content + eos_token }}
    {%- elif message.role == 'system' %}
        {{- message.content + '\n\n' }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- 'Assistant:' }}
{%- endif %}
)JINJA";

// V2.5 and V3 share their turn and tool markup; they differ in how system messages
// combine (V2.5 keeps the last one, V3 joins all of them with a blank line).
const char* const kDeepSeekToolsHead = R"JINJA(
{%- if add_generation_prompt is not defined %}
    {%- set add_generation_prompt = false %}
{%- endif %}
{%- macro tool_call(tool) -%}
    {{ tool.type + '<｜tool▁sep｜>' + tool.function.name + '\n```json\n' + tool.function.arguments + '\n```<｜tool▁call▁end｜>' }}
{%- endmacro %}
{%- set state = namespace(system_prompt='', calls_started=false, in_outputs=false, first_output=true) %}
{%- for message in messages if message.role == 'system' %}
)JINJA";

const char* const kSystemLast = R"JINJA(
    {%- set state.system_prompt = message.content %}
)JINJA";

const char* const kSystemJoined = R"JINJA(
    {%- set state.system_prompt = state.system_prompt + message.content if loop.first else state.system_prompt + '\n\n' + message.content %}
)JINJA";

const char* const kDeepSeekToolsBody = R"JINJA(
{%- endfor %}
{{- bos_token ~ state.system_prompt }}
{%- for message in messages %}
    {%- if message.role == 'user' %}
        {%- set state.in_outputs = false %}
        {{- '<｜User｜>' + message.content }}
    {%- elif message.role == 'assistant' and message.content is none %}
        {%- set state.in_outputs = false %}
        {%- for tool in message.tool_calls %}
            {%- if not state.calls_started %}
                {{- '<｜Assistant｜><｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool_call(tool) }}
                {%- set state.calls_started = true %}
            {%- else %}
                {{- '\n<｜tool▁call▁begin｜>' + tool_call(tool) + '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>' }}
            {%- endif %}
        {%- endfor %}
    {%- elif message.role == 'assistant' %}
        {%- if state.in_outputs %}
            {{- '<｜tool▁outputs▁end｜>' + message.content + '<｜end▁of▁sentence｜>' }}
            {%- set state.in_outputs = false %}
        {%- else %}
            {{- '<｜Assistant｜>' + message.content + '<｜end▁of▁sentence｜>' }}
        {%- endif %}
    {%- elif message.role == 'tool' %}
        {%- set state.in_outputs = true %}
        {%- if state.first_output %}
            {{- '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message.content + '<｜tool▁output▁end｜>' }}
            {%- set state.first_output = false %}
        {%- else %}
            {{- '\n<｜tool▁output▁begin｜>' + message.content + '<｜tool▁output▁end｜>' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if state.in_outputs %}
    {{- '<｜tool▁outputs▁end｜>' }}
{%- endif %}
{%- if add_generation_prompt and not state.in_outputs %}
    {{- '<｜Assistant｜>' }}
{%- endif %}
)JINJA";

// DeepSeek-R1 (and the R1 distills): earlier assistant turns keep only the text after
// "</think>", so past reasoning leaves the context; the generation prompt opens a
// <think> block. Tool calls may follow text, and outputs after the first are not
// separated by a newline.
const char* const kDeepSeekR1 = R"JINJA(
{%- if add_generation_prompt is not defined %}
    {%- set add_generation_prompt = false %}
{%- endif %}
{%- macro tool_call(tool) -%}
    {{ tool.type + '<｜tool▁sep｜>' + tool.function.name + '\n```json\n' + tool.function.arguments + '\n```<｜tool▁call▁end｜>' }}
{%- endmacro %}
{%- set state = namespace(system_prompt='', calls_started=false, in_outputs=false, first_output=true) %}
{%- for message in messages if message.role == 'system' %}
    {%- set state.system_prompt = state.system_prompt + message.content if loop.first else state.system_prompt + '\n\n' + message.content %}
{%- endfor %}
{{- bos_token ~ state.system_prompt }}
{%- for message in messages %}
    {%- if message.role == 'user' %}
        {%- set state.in_outputs = false %}
        {{- '<｜User｜>' + message.content }}
    {%- elif message.role == 'assistant' and 'tool_calls' in message %}
        {%- set state.in_outputs = false %}
        {%- for tool in message.tool_calls %}
            {%- if not state.calls_started %}
                {{- '<｜Assistant｜>' + ('' if message.content is none else message.content) }}
                {{- '<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>' + tool_call(tool) }}
                {%- set state.calls_started = true %}
            {%- else %}
                {{- '\n<｜tool▁call▁begin｜>' + tool_call(tool) }}
            {%- endif %}
        {%- endfor %}
        {{- '<｜tool▁calls▁end｜><｜end▁of▁sentence｜>' }}
    {%- elif message.role == 'assistant' %}
        {%- if state.in_outputs %}
            {{- '<｜tool▁outputs▁end｜>' + message.content + '<｜end▁of▁sentence｜>' }}
            {%- set state.in_outputs = false %}
        {%- else %}
            {{- '<｜Assistant｜>' + message.content.split('</think>')[-1] + '<｜end▁of▁sentence｜>' }}
        {%- endif %}
    {%- elif message.role == 'tool' %}
        {%- set state.in_outputs = true %}
        {%- if state.first_output %}
            {{- '<｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>' + message.content + '<｜tool▁output▁end｜>' }}
            {%- set state.first_output = false %}
        {%- else %}
            {{- '<｜tool▁output▁begin｜>' + message.content + '<｜tool▁output▁end｜>' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if state.in_outputs %}
    {{- '<｜tool▁outputs▁end｜>' }}
{%- endif %}
{%- if add_generation_prompt and not state.in_outputs %}
    {{- '<｜Assistant｜><think>\n' }}
{%- endif %}
)JINJA";

const char* const kChatMl = R"JINJA(
{%- for message in messages %}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";

// Qwen2-Instruct: ChatML with a default system prompt.
const char* const kQwen2 = R"JINJA(
{%- for message in messages %}
    {%- if loop.first and message.role != 'system' %}
        {{- '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
    {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";

// Qwen2.5-Instruct, including its tool-use prompt.
const char* const kQwen25 = R"JINJA(
{%- set has_system = messages and messages[0].role == 'system' %}
{%- set system = messages[0].content if has_system else 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' %}
{%- if tools %}
    {{- '<|im_start|>system\n' + system + '\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n' }}
    {{- 'You are provided with function signatures within <tools></tools> XML tags:\n<tools>' }}
    {%- for tool in tools %}
        {{- '\n' ~ tool | tojson }}
    {%- endfor %}
    {{- '\n</tools>\n\nFor each function call, return a json object with function name and arguments within ' }}
    {{- '<tool_call></tool_call> XML tags:\n<tool_call>\n{"name": <function-name>, "arguments": <args-json-object>}' }}
    {{- '\n</tool_call><|im_end|>\n' }}
{%- else %}
    {{- '<|im_start|>system\n' + system + '<|im_end|>\n' }}
{%- endif %}
{%- for message in messages %}
    {%- if message.role == 'user' or (message.role == 'system' and not loop.first)
          or (message.role == 'assistant' and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>\n' }}
    {%- elif message.role == 'assistant' %}
        {{- '<|im_start|>assistant' }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for call in message.tool_calls %}
            {%- set fn = call.function if call.function is defined else call %}
            {{- '\n<tool_call>\n{"name": "' ~ fn.name ~ '", "arguments": ' ~ fn.arguments | tojson ~ '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == 'tool' %}
        {%- if loop.first or loop.previtem.role != 'tool' %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' ~ message.content ~ '\n</tool_response>' }}
        {%- if loop.last or loop.nextitem.role != 'tool' %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
)JINJA";

struct Entry {
    const char* name;
    std::string source;
};

const std::vector<Entry>& entries() {
    static const std::vector<Entry> table = {
        {"deepseek", kDeepSeekLlm},
        {"deepseek2", std::string(kDeepSeekToolsHead) + kSystemLast + kDeepSeekToolsBody},
        {"deepseek3", std::string(kDeepSeekToolsHead) + kSystemJoined + kDeepSeekToolsBody},
        {"deepseek-r1", kDeepSeekR1},
        {"chatml", kChatMl},
        {"qwen2", kQwen2},
        {"qwen2.5", kQwen25},
    };
    return table;
}

const std::pair<const char*, const char*> kAliases[] = {
    {"deepseek-llm", "deepseek"}, {"deepseek-v2.5", "deepseek2"}, {"deepseek-v3", "deepseek3"},
    {"r1", "deepseek-r1"},        {"qwen", "qwen2"},
};

}  // namespace

const char* builtin_template_source(std::string_view name) {
    for (const auto& [alias, target] : kAliases)
        if (name == alias) name = target;
    for (const Entry& e : entries())
        if (name == e.name) return e.source.c_str();
    return nullptr;
}

std::vector<std::string> builtin_template_names() {
    std::vector<std::string> names;
    for (const Entry& e : entries()) names.emplace_back(e.name);
    return names;
}

}  // namespace dsm
