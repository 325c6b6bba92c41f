// Jinja semantics against Python Jinja2: every snippet in jinja_cases.json (written by
// gen_jinja_cases.py with jinja2 configured as transformers does) must render to
// Jinja2's output byte for byte, or fail with dsm::Error where Jinja2 raised.
#include <gtest/gtest.h>

#include <cstdio>
#include <ostream>

#include "chat/chat_template.hpp"
#include "chat_test_util.hpp"
#include "core/error.hpp"

namespace {

using dsm::test::ojson;

struct JinjaCase {
    size_t index;
    ojson data;
};

std::vector<JinjaCase> load_cases() {
    std::vector<JinjaCase> out;
    const ojson all = dsm::test::read_json(dsm::test::chat_tests_dir() / "jinja_cases.json");
    for (const ojson& c : all["cases"]) out.push_back({out.size(), c});
    return out;
}

void PrintTo(const JinjaCase& c, std::ostream* os) { *os << "jinja case " << c.index; }

class JinjaCaseTest : public ::testing::TestWithParam<JinjaCase> {};

std::string render_case(const ojson& c) {
    ojson context = c["context"];
    ojson messages = context.contains("messages") ? context["messages"] : ojson::array();
    bool add_generation_prompt = context.value("add_generation_prompt", false);
    context.erase("messages");
    context.erase("add_generation_prompt");
    return dsm::ChatTemplate::from_source(c["template"].get<std::string>())
        .render(messages, add_generation_prompt, context);
}

TEST_P(JinjaCaseTest, MatchesJinja2) {
    const ojson& c = GetParam().data;
    SCOPED_TRACE("template: " + c["template"].get<std::string>());
    if (c["error"].is_null()) {
        EXPECT_EQ(render_case(c), c["expected"].get<std::string>());
    } else {
        SCOPED_TRACE("Jinja2 raised " + c["error"].get<std::string>());
        EXPECT_THROW(render_case(c), dsm::Error);
    }
}

INSTANTIATE_TEST_SUITE_P(Jinja2, JinjaCaseTest, ::testing::ValuesIn(load_cases()),
                         [](const ::testing::TestParamInfo<JinjaCase>& info) {
                             char name[32];
                             std::snprintf(name, sizeof name, "case_%03zu", info.param.index);
                             return std::string(name);
                         });

}  // namespace
