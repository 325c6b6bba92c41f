// Error reporting and robustness: syntax errors name line and column, runtime errors
// name the failing spot, and hostile templates (deep nesting, huge loops, runaway
// recursion, exploding strings, reference cycles) fail quickly with dsm::Error.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "chat/chat_template.hpp"
#include "chat_test_util.hpp"
#include "core/error.hpp"

namespace {

using dsm::ChatTemplate;
using dsm::test::ojson;

// The message of the dsm::Error that parsing and rendering `source` throws.
std::string error_of(const std::string& source, const ojson& messages = ojson::array(),
                     const ChatTemplate::Limits* limits = nullptr) {
    try {
        ChatTemplate t = ChatTemplate::from_source(source);
        if (limits) t.set_limits(*limits);
        t.render(messages, true);
    } catch (const dsm::Error& e) {
        return e.what();
    }
    ADD_FAILURE() << "no error for: " << source.substr(0, 200);
    return "";
}

std::string repeat(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// ---- syntax errors --------------------------------------------------------------------

TEST(ChatTemplateErrors, SyntaxErrorsGiveLineAndColumn) {
    struct Case {
        std::string source;
        std::string where;
        std::string what;
    };
    const Case cases[] = {
        {"{{ 1 + }}", "line 1, column 8", "expected an expression, got '}}'"},
        {"Hello\n{% if x %}\nunclosed", "line 3, column 9", "opened at line 2"},
        {"line one\n  {{ foo(1, }}\n", "line 2, column 13", "unexpected '}'"},
        {"a\nb\n{% frobnicate %}", "line 3, column 4", "unknown tag 'frobnicate'"},
        {"{% for x in y %}{% endif %}", "line 1, column 20", "unexpected 'endif'"},
        {"{{ 'abc }}", "line 1, column 4", "unterminated string"},
        {"x\n\n  {# never closed", "line 3, column 3", "unterminated comment"},
        {"ééé {{ 1 + }}", "line 1, column 12", "expected an expression"},  // columns count characters
        {"{% break %}", "line 1, column 4", "outside of a loop"},
        {"{% endif %}", "line 1, column 4", "without a matching opening tag"},
        {"{{ x", "line 1, column 1", "missing '}}'"},
        {"{{ " + repeat("1 + ", 300) + "1 }}", "line 1", "nesting deeper"},
        {"{% include 'x' %}", "line 1, column 4", "not supported"},
        {"{{ a b }}", "line 1, column 6", "expected '}}'"},
        {"{% macro m(a=1, b) %}{% endmacro %}", "line 1, column 17", "parameter without a default"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.source);
        try {
            ChatTemplate::from_source(c.source);
            ADD_FAILURE() << "parsed";
        } catch (const dsm::Error& e) {
            std::string msg = e.what();
            EXPECT_TRUE(contains(msg, "syntax error")) << msg;
            EXPECT_TRUE(contains(msg, c.where)) << msg;
            EXPECT_TRUE(contains(msg, c.what)) << msg;
        }
    }
}

TEST(ChatTemplateErrors, RuntimeErrorsNameTheSpot) {
    std::string msg = error_of("line 1\n{% for m in messages %}{{ m.content + 1 }}{% endfor %}",
                               ojson::parse(R"([{"role": "user", "content": "x"}])"));
    EXPECT_TRUE(contains(msg, "line 2, column 37")) << msg;
    EXPECT_TRUE(contains(msg, "unsupported operand type(s) for +: 'str' and 'int'")) << msg;

    msg = error_of("{{ raise_exception('Conversation roles must alternate') }}");
    EXPECT_TRUE(contains(msg, "Conversation roles must alternate")) << msg;

    msg = error_of("{{ missing.attribute }}");
    EXPECT_TRUE(contains(msg, "'missing' is undefined")) << msg;
}

TEST(ChatTemplateErrors, BadInputToRender) {
    ChatTemplate t = ChatTemplate::from_source("{{ messages | length }}");
    EXPECT_THROW(t.render(ojson::object(), false), dsm::Error);
    EXPECT_THROW(t.render(ojson::array(), false, ojson::array()), dsm::Error);
    EXPECT_THROW(t.render(ojson::array(), false, ojson{{"messages", 1}}), dsm::Error);
    EXPECT_THROW(t.render(ojson::array(), false, ojson{{"add_generation_prompt", true}}), dsm::Error);
    // Input nested deeper than the interpreter accepts.
    ojson deep = "x";
    for (int i = 0; i < 1000; ++i) deep = ojson::array({deep});
    EXPECT_THROW(t.render(ojson::array({deep}), false), dsm::Error);
}

// ---- hostile templates ------------------------------------------------------------------

class Stopwatch {
public:
    double seconds() const {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }

private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

TEST(ChatTemplateErrors, DeepNestingIsRejected) {
    Stopwatch sw;
    const int n = 100000;
    EXPECT_TRUE(contains(error_of("{{ " + repeat("(", n) + "1" + repeat(")", n) + " }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ " + repeat("[", n) + repeat("]", n) + " }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ " + repeat("not ", n) + "x }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ " + repeat("-", n) + "1 }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ " + repeat("a if b else ", n) + "c }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of(repeat("{% if true %}", n) + repeat("{% endif %}", n)), "nesting deeper"));
    EXPECT_TRUE(contains(error_of(repeat("{% for x in y %}", n) + repeat("{% endfor %}", n)), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ " + repeat("1 + ", n) + "1 }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ x" + repeat(".y", n) + " }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ x" + repeat("|trim", n) + " }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ x" + repeat("()", n) + " }}"), "nesting deeper"));
    // Long but flat templates are fine.
    ChatTemplate flat = ChatTemplate::from_source(repeat("{{ 1 + 1 }}{% if true %}x{% endif %}", 20000));
    EXPECT_EQ(flat.render(ojson::array(), false), repeat("2x", 20000));
    EXPECT_LT(sw.seconds(), 60.0);  // generous: sanitizer builds on a busy machine
}

TEST(ChatTemplateErrors, RunawayLoopsAndRecursionStop) {
    Stopwatch sw;
    EXPECT_TRUE(contains(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}"),
                         "budget"));
    EXPECT_TRUE(contains(error_of("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{% macro a() %}{{ b() }}{% endmacro %}{% macro b() %}{{ a() }}{% endmacro %}{{ a() }}"),
                         "nesting deeper"));
    EXPECT_TRUE(contains(error_of("{{ range(1000000) | list }}"), "range too big"));
    // A smaller budget stops the same loop sooner.
    ChatTemplate::Limits small;
    small.max_steps = 100000;
    EXPECT_TRUE(contains(error_of("{% for i in range(100000) %}{{ loop.index }}{% endfor %}", ojson::array(), &small),
                         "budget of 100000 steps"));
    EXPECT_LT(sw.seconds(), 60.0);
}

TEST(ChatTemplateErrors, ExplodingOutputIsCapped) {
    Stopwatch sw;
    EXPECT_TRUE(contains(error_of("{% set ns = namespace(s='x') %}{% for i in range(100) %}{% set ns.s = ns.s + ns.s %}"
                                  "{% endfor %}"),
                         "larger than"));
    EXPECT_TRUE(contains(error_of("{{ 'x' * 10000000000 }}"), "too large"));
    EXPECT_TRUE(contains(error_of("{{ [1, 2] * 10000000000 }}"), "too large"));
    EXPECT_TRUE(contains(error_of("{{ 'ab' | replace('', 'x' * 30000000) }}"), "larger than"));
    EXPECT_TRUE(contains(error_of("{{ 2 ** 64 }}"), "overflow"));
    ChatTemplate::Limits small;
    small.max_output_bytes = 1000;
    EXPECT_TRUE(contains(error_of("{% for i in range(1000) %}{{ i }}{% endfor %}", ojson::array(), &small), "larger than"));
    EXPECT_LT(sw.seconds(), 60.0);
}

TEST(ChatTemplateErrors, CyclesAndDeepValuesDoNotCrash) {
    EXPECT_TRUE(contains(error_of("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"), "nested deeper"));
    EXPECT_TRUE(contains(error_of("{% set ns = namespace() %}{% set ns.l = [ns] %}{{ ns.l | tojson }}"), "not JSON"));
    EXPECT_TRUE(contains(error_of("{% set ns = namespace(x=1) %}{% for i in range(1000) %}{% set ns.x = [ns.x] %}"
                                  "{% endfor %}"),
                         "nested deeper"));
    ChatTemplate t = ChatTemplate::from_source("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns == ns.me }}");
    EXPECT_EQ(t.render(ojson::array(), false), "True");
}

TEST(ChatTemplateErrors, InvalidUtf8PassesThrough) {
    const std::string bad = "a\xff\xc3(b";
    ChatTemplate t = ChatTemplate::from_source(bad + "{{ messages[0].content | upper }}|{{ messages[0].content[::-1] }}");
    ojson msgs = ojson::array({{{"role", "user"}, {"content", "x"}}});
    EXPECT_EQ(t.render(msgs, false), bad + "X|x");
}

// ---- API ----------------------------------------------------------------------------------

TEST(ChatTemplateApi, ChatMessagesRenderLikeJson) {
    DSM_REQUIRE_TESTDATA();
    ChatTemplate qwen3 = ChatTemplate::from_source(dsm::test::tokenizer_config("qwen3")["chat_template"].get<std::string>());
    std::vector<dsm::ChatMessage> msgs = {{"user", "2+2?", ""}, {"assistant", "4", "add two and two"}};
    ojson as_json = ojson::parse(R"([{"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4", "reasoning_content": "add two and two"}])");
    EXPECT_EQ(qwen3.render(msgs, false), qwen3.render(as_json, false));
    EXPECT_TRUE(contains(qwen3.render(msgs, false), "<think>\nadd two and two\n</think>"));
    EXPECT_EQ(dsm::chat_messages_to_json({{"user", "hi", ""}}).dump(), R"([{"content":"hi","role":"user"}])");
}

TEST(ChatTemplateApi, KeyOrderFollowsTheJsonType) {
    ChatTemplate t = ChatTemplate::from_source("{{ tools | tojson }}");
    const char* tools = R"({"tools": [{"type": "function", "function": {"name": "f"}}]})";
    EXPECT_EQ(t.render(ojson::array(), false, ojson::parse(tools)),
              R"([{"type": "function", "function": {"name": "f"}}])");
    EXPECT_EQ(t.render(nlohmann::json::array(), false, nlohmann::json::parse(tools)),
              R"([{"function": {"name": "f"}, "type": "function"}])");
}

TEST(ChatTemplateApi, ContextDefaults) {
    ChatTemplate t = ChatTemplate::from_source(
        "{{ tools is none }} {{ documents is none }} {{ bos_token is defined }} {{ add_generation_prompt }}");
    EXPECT_EQ(t.render(ojson::array(), true), "True True False True");
    EXPECT_EQ(t.render(ojson::array(), false, ojson{{"bos_token", "<s>"}, {"tools", ojson::array()}}),
              "False True True False");
    EXPECT_EQ(t.source().substr(0, 2), "{{");
}

TEST(ChatTemplateApi, GenerationBlockRendersItsBody) {
    // transformers registers {% generation %} (assistant-token masks); output is unchanged.
    ChatTemplate t = ChatTemplate::from_source("a{% generation %}b{{ 1 }}{% endgeneration %}c");
    EXPECT_EQ(t.render(ojson::array(), false), "ab1c");
}

}  // namespace
