// Built-in templates against the real ones. The official DeepSeek-V3 and Qwen2.5/Qwen3
// templates from the shared test data are the oracles; for the model variants whose
// templates are not in the test data (V2.5, R1, Qwen2) the oracle is the real template
// run on a transformed conversation that the variant is defined to be equivalent to.
// DeepSeek-LLM and R1 tool markup are checked against strings written from the
// official templates' rules.
#include <gtest/gtest.h>

#include "chat/chat_template.hpp"
#include "chat_test_util.hpp"
#include "core/error.hpp"

namespace {

using dsm::ChatTemplate;
using dsm::test::ojson;

const char* const kBos = "<｜begin▁of▁sentence｜>";
const char* const kEos = "<｜end▁of▁sentence｜>";

const ojson& conversations() {
    static const ojson c = ojson::parse(R"JSON({
      "system_user": [{"role": "system", "content": "You are a helpful assistant."},
                      {"role": "user", "content": "What is the capital of France?"}],
      "multi_turn": [{"role": "user", "content": "Hi! Can you help me with some math?"},
                     {"role": "assistant", "content": "Of course. What do you need?"},
                     {"role": "user", "content": "What is 12 * 7?"}],
      "unicode": [{"role": "system", "content": "回答要简洁。"}, {"role": "user", "content": "1+1=?"},
                  {"role": "assistant", "content": "2"}, {"role": "user", "content": "Say it in English, please 🙂"},
                  {"role": "assistant", "content": "Two."}],
      "two_systems": [{"role": "system", "content": "Rule one."}, {"role": "system", "content": "Rule two."},
                      {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                      {"role": "user", "content": "Bye"}],
      "system_later": [{"role": "user", "content": "Hi"}, {"role": "system", "content": "Be terse."},
                       {"role": "user", "content": "Go"}],
      "only_user": [{"role": "user", "content": "Just one line"}],
      "empty": [],
      "tricky_text": [{"role": "user", "content": "{{ not a tag }} {% raw %} <｜User｜> \n\n  spaced  "},
                      {"role": "assistant", "content": "  "}, {"role": "user", "content": ""}],
      "thinking": [{"role": "user", "content": "2+2?"},
                   {"role": "assistant", "content": "<think>\nadd them\n</think>\n\n4"},
                   {"role": "user", "content": "3+3?"}, {"role": "assistant", "content": "<think>easy</think>6"}],
      "tool_call": [{"role": "user", "content": "Weather in Paris?"},
                    {"role": "assistant", "content": null, "tool_calls": [
                      {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
                    {"role": "tool", "content": "{\"temp\": 20}"},
                    {"role": "assistant", "content": "It is 20C."}, {"role": "user", "content": "Thanks"}],
      "two_tool_calls": [{"role": "system", "content": "Use tools."},
                         {"role": "user", "content": "Weather in Paris and Rome?"},
                         {"role": "assistant", "content": null, "tool_calls": [
                           {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}},
                           {"type": "function", "function": {"name": "get_weather", "arguments": "{\"city\": \"Rome\"}"}}]},
                         {"role": "tool", "content": "20C"}, {"role": "tool", "content": "25C"}]
    })JSON");
    return c;
}

const ojson& tools() {
    static const ojson t = ojson::parse(R"JSON([{"type": "function", "function": {"name": "get_weather",
        "description": "Current weather", "parameters": {"type": "object",
        "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])JSON");
    return t;
}

bool has_tools(const ojson& conv) {
    for (const ojson& m : conv)
        if (m["role"] == "tool" || m.contains("tool_calls")) return true;
    return false;
}

ojson deepseek_tokens() { return ojson{{"bos_token", kBos}, {"eos_token", kEos}}; }

ChatTemplate real_template(const std::string& name) {
    return ChatTemplate::from_source(dsm::test::tokenizer_config(name)["chat_template"].get<std::string>());
}

// Renders builtin and oracle for every conversation accepted by `use`, both with and
// without the generation prompt; `prepare` maps the conversation for the oracle and
// `expect` maps the oracle's output.
template <class Use, class Prepare, class Expect>
int compare_all(const ChatTemplate& builtin, const ChatTemplate& oracle, const ojson& extra, Use use,
                Prepare prepare, Expect expect) {
    int compared = 0;
    for (const auto& [name, conv] : conversations().items()) {
        if (!use(conv)) continue;
        for (bool gen : {false, true}) {
            SCOPED_TRACE(name + (gen ? " + generation prompt" : ""));
            EXPECT_EQ(builtin.render(conv, gen, extra), expect(oracle.render(prepare(conv), gen, extra), conv, gen));
            ++compared;
        }
    }
    return compared;
}

auto all_conversations = [](const ojson&) { return true; };
auto unchanged = [](const ojson& conv) { return conv; };
auto same_output = [](const std::string& out, const ojson&, bool) { return out; };

TEST(ChatBuiltins, DeepSeek3MatchesTheV3Template) {
    DSM_REQUIRE_TESTDATA();
    int n = compare_all(ChatTemplate::builtin("deepseek3"), real_template("deepseek-v3"), deepseek_tokens(),
                        all_conversations, unchanged, same_output);
    EXPECT_EQ(n, 22);
}

// V2.5 is V3 except that only the last system message counts.
TEST(ChatBuiltins, DeepSeek2IsV3WithOnlyTheLastSystemMessage) {
    DSM_REQUIRE_TESTDATA();
    auto last_system_only = [](const ojson& conv) {
        size_t last = conv.size();
        for (size_t i = 0; i < conv.size(); ++i)
            if (conv[i]["role"] == "system") last = i;
        ojson out = ojson::array();
        for (size_t i = 0; i < conv.size(); ++i)
            if (conv[i]["role"] != "system" || i == last) out.push_back(conv[i]);
        return out;
    };
    int n = compare_all(ChatTemplate::builtin("deepseek2"), real_template("deepseek-v3"), deepseek_tokens(),
                        all_conversations, last_system_only, same_output);
    EXPECT_EQ(n, 22);
}

// R1 without tools is V3 with each assistant turn cut to the text after "</think>"
// and "<think>\n" opening the generated turn.
TEST(ChatBuiltins, DeepSeekR1DropsPastReasoning) {
    DSM_REQUIRE_TESTDATA();
    auto no_tools = [](const ojson& conv) { return !has_tools(conv); };
    auto strip_reasoning = [](const ojson& conv) {
        ojson out = conv;
        for (ojson& m : out) {
            if (m["role"] != "assistant") continue;
            std::string content = m["content"].get<std::string>();
            size_t end = content.rfind("</think>");
            if (end != std::string::npos) m["content"] = content.substr(end + 8);
        }
        return out;
    };
    auto open_think = [](const std::string& out, const ojson&, bool gen) { return gen ? out + "<think>\n" : out; };
    int n = compare_all(ChatTemplate::builtin("deepseek-r1"), real_template("deepseek-v3"), deepseek_tokens(), no_tools,
                        strip_reasoning, open_think);
    EXPECT_EQ(n, 18);

    // The reasoning really is gone from the history.
    std::string out = ChatTemplate::builtin("deepseek-r1").render(conversations()["thinking"], true, deepseek_tokens());
    EXPECT_EQ(out.find("add them"), std::string::npos);
    EXPECT_EQ(out.find("easy"), std::string::npos);
}

TEST(ChatBuiltins, DeepSeekR1ToolMarkup) {
    const ChatTemplate r1 = ChatTemplate::builtin("deepseek-r1");
    const std::string call_paris =
        "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>";
    const std::string call_rome =
        "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n{\"city\": \"Rome\"}\n```<｜tool▁call▁end｜>";
    EXPECT_EQ(r1.render(conversations()["tool_call"], true, deepseek_tokens()),
              std::string(kBos) + "<｜User｜>Weather in Paris?<｜Assistant｜><｜tool▁calls▁begin｜>" + call_paris +
                  "<｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>"
                  "{\"temp\": 20}<｜tool▁output▁end｜><｜tool▁outputs▁end｜>It is 20C.<｜end▁of▁sentence｜>"
                  "<｜User｜>Thanks<｜Assistant｜><think>\n");
    // Several calls in one turn, several outputs, conversation ending in tool output.
    EXPECT_EQ(r1.render(conversations()["two_tool_calls"], true, deepseek_tokens()),
              std::string(kBos) + "Use tools.<｜User｜>Weather in Paris and Rome?<｜Assistant｜><｜tool▁calls▁begin｜>" +
                  call_paris + "\n" + call_rome +
                  "<｜tool▁calls▁end｜><｜end▁of▁sentence｜><｜tool▁outputs▁begin｜><｜tool▁output▁begin｜>20C"
                  "<｜tool▁output▁end｜><｜tool▁output▁begin｜>25C<｜tool▁output▁end｜><｜tool▁outputs▁end｜>");
    // Text before the calls stays.
    ojson with_text = ojson::parse(R"([{"role": "user", "content": "Q"}, {"role": "assistant",
        "content": "Let me check.", "tool_calls": [{"type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]}])");
    EXPECT_EQ(r1.render(with_text, false, deepseek_tokens()),
              std::string(kBos) + "<｜User｜>Q<｜Assistant｜>Let me check.<｜tool▁calls▁begin｜>" + call_paris +
                  "<｜tool▁calls▁end｜><｜end▁of▁sentence｜>");
}

TEST(ChatBuiltins, DeepSeekR1IgnoresReasoningContentField) {
    std::vector<dsm::ChatMessage> msgs = {{"user", "2+2?", ""}, {"assistant", "4", "secret reasoning"}, {"user", "ok", ""}};
    std::string out = ChatTemplate::builtin("deepseek-r1").render(msgs, true, deepseek_tokens());
    EXPECT_EQ(out, std::string(kBos) + "<｜User｜>2+2?<｜Assistant｜>4<｜end▁of▁sentence｜><｜User｜>ok<｜Assistant｜><think>\n");
}

// DeepSeek-LLM chat / V2-Chat: "User: ...\n\n", "Assistant: ...<eos>", system text
// followed by a blank line, "Assistant:" as the generation prompt.
TEST(ChatBuiltins, DeepSeekLlmFormat) {
    const ChatTemplate t = ChatTemplate::builtin("deepseek");
    EXPECT_EQ(t.render(conversations()["system_user"], true, deepseek_tokens()),
              std::string(kBos) + "You are a helpful assistant.\n\nUser: What is the capital of France?\n\nAssistant:");
    EXPECT_EQ(t.render(conversations()["multi_turn"], false, deepseek_tokens()),
              std::string(kBos) + "User: Hi! Can you help me with some math?\n\nAssistant: Of course. What do you need?" +
                  kEos + "User: What is 12 * 7?\n\n");
    EXPECT_EQ(t.render(conversations()["empty"], true, deepseek_tokens()), std::string(kBos) + "Assistant:");
    // Its assistant turns end with eos_token, which has to be given.
    EXPECT_THROW(t.render(conversations()["multi_turn"], false), dsm::Error);
}

TEST(ChatBuiltins, ChatMlMatchesQwenTemplates) {
    DSM_REQUIRE_TESTDATA();
    const ChatTemplate chatml = ChatTemplate::builtin("chatml");
    auto no_tools_nonempty = [](const ojson& conv) { return !has_tools(conv) && !conv.empty(); };
    // Qwen2.5 adds no default prompt when the conversation starts with a system message.
    auto with_system = [](const ojson& conv) {
        if (conv[0]["role"] == "system") return conv;
        ojson out = ojson::array({{{"role", "system"}, {"content", "S"}}});
        for (const ojson& m : conv) out.push_back(m);
        return out;
    };
    int n = 0;
    for (const auto& [name, conv] : conversations().items()) {
        if (!no_tools_nonempty(conv)) continue;
        for (bool gen : {false, true}) {
            SCOPED_TRACE(name);
            EXPECT_EQ(chatml.render(with_system(conv), gen), real_template("qwen2.5").render(with_system(conv), gen));
            ++n;
        }
    }
    EXPECT_EQ(n, 16);
    // Qwen3 renders plain ChatML while no assistant turn follows the last user turn.
    int m = compare_all(chatml, real_template("qwen3"), ojson::object(),
                        [](const ojson& conv) {
                            return !has_tools(conv) && !conv.empty() && conv.back()["role"] == "user" &&
                                   conv.dump().find("</think>") == std::string::npos;
                        },
                        unchanged, same_output);
    EXPECT_EQ(m, 12);
}

TEST(ChatBuiltins, Qwen2IsChatMlWithItsDefaultSystemPrompt) {
    DSM_REQUIRE_TESTDATA();
    auto no_tools_nonempty = [](const ojson& conv) { return !has_tools(conv) && !conv.empty(); };
    auto default_system = [](const ojson& conv) {
        if (conv[0]["role"] == "system") return conv;
        ojson out = ojson::array({{{"role", "system"}, {"content", "You are a helpful assistant."}}});
        for (const ojson& m : conv) out.push_back(m);
        return out;
    };
    int n = compare_all(ChatTemplate::builtin("qwen2"), real_template("qwen2.5"), ojson::object(), no_tools_nonempty,
                        default_system, same_output);
    EXPECT_EQ(n, 16);
}

TEST(ChatBuiltins, Qwen25MatchesTheQwen25Template) {
    DSM_REQUIRE_TESTDATA();
    auto nonempty = [](const ojson& conv) { return !conv.empty(); };
    int n = compare_all(ChatTemplate::builtin("qwen2.5"), real_template("qwen2.5"), ojson::object(), nonempty,
                        unchanged, same_output);
    EXPECT_EQ(n, 20);
    int m = compare_all(ChatTemplate::builtin("qwen2.5"), real_template("qwen2.5"), ojson{{"tools", tools()}},
                        nonempty, unchanged, same_output);
    EXPECT_EQ(m, 20);
}

TEST(ChatBuiltins, NamesAndAliases) {
    std::vector<std::string> names = ChatTemplate::builtin_names();
    EXPECT_EQ(names, (std::vector<std::string>{"deepseek", "deepseek2", "deepseek3", "deepseek-r1", "chatml", "qwen2",
                                               "qwen2.5"}));
    EXPECT_EQ(ChatTemplate::builtin_source("r1"), ChatTemplate::builtin_source("deepseek-r1"));
    EXPECT_EQ(ChatTemplate::builtin_source("deepseek-v3"), ChatTemplate::builtin_source("deepseek3"));
    try {
        ChatTemplate::builtin("llama3");
        FAIL() << "unknown builtin accepted";
    } catch (const dsm::Error& e) {
        EXPECT_NE(std::string(e.what()).find("llama3"), std::string::npos);
        EXPECT_NE(std::string(e.what()).find("deepseek3"), std::string::npos);
    }
}

TEST(ChatBuiltins, DetectRealTemplates) {
    DSM_REQUIRE_TESTDATA();
    auto source = [](const char* name) { return dsm::test::tokenizer_config(name)["chat_template"].get<std::string>(); };
    EXPECT_EQ(ChatTemplate::detect(source("deepseek-v3")), "deepseek3");
    EXPECT_EQ(ChatTemplate::detect(source("qwen2.5")), "qwen2.5");
    EXPECT_EQ(ChatTemplate::detect(source("qwen3")), std::nullopt);  // reasoning ChatML has no builtin
}

TEST(ChatBuiltins, DetectMarkers) {
    EXPECT_EQ(ChatTemplate::detect("{{ bos_token }}{% for m in messages %}{{ 'User: ' + m.content + '\\n\\n' }}"
                                   "{{ 'Assistant: ' }}{% endfor %}"),
              "deepseek");
    EXPECT_EQ(ChatTemplate::detect("{{'<｜Assistant｜>' + c}}{{'<｜Assistant｜><think>\\n'}}"), "deepseek-r1");
    EXPECT_EQ(ChatTemplate::detect("{% set ns = namespace(system_prompt='') %}{{'<｜User｜>' + m}}"), "deepseek2");
    EXPECT_EQ(ChatTemplate::detect("{% if m.role == 'system' %}{{ m.content + '\n\n' }}{% endif %}{{'<｜User｜>' + m}}"),
              std::nullopt);
    EXPECT_EQ(ChatTemplate::detect("{{ '<|im_start|>' + role }}"), "chatml");
    EXPECT_EQ(ChatTemplate::detect("[INST] {{ content }} [/INST]"), std::nullopt);
    EXPECT_EQ(ChatTemplate::detect(""), std::nullopt);
    for (const std::string& name : ChatTemplate::builtin_names())
        EXPECT_EQ(ChatTemplate::detect(ChatTemplate::builtin_source(name)), name) << name;
}

}  // namespace
