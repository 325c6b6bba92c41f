// The model's own chat templates (tokenizer_config.json) must render every conversation
// of reference/chat_template_cases.json exactly as transformers.js / Jinja2 did.
#include <gtest/gtest.h>

#include "chat/chat_template.hpp"
#include "chat_test_util.hpp"

namespace {

using dsm::test::ojson;

void check_tokenizer(const std::string& name) {
    const ojson all = dsm::test::read_json(dsm::test::testdata_dir() / "tokenizer" / "reference" /
                                           "chat_template_cases.json");
    const ojson config = dsm::test::tokenizer_config(name);
    const auto tmpl = dsm::ChatTemplate::from_source(config["chat_template"].get<std::string>());
    const ojson extra = dsm::test::special_tokens(config);
    const ojson& cases = all["cases"][name];
    ASSERT_EQ(cases.size(), 6u);
    for (const ojson& c : cases) {
        SCOPED_TRACE(name + " / " + c["name"].get<std::string>() +
                     (c["add_generation_prompt"].get<bool>() ? " + generation prompt" : ""));
        ASSERT_TRUE(c["error"].is_null());
        EXPECT_EQ(tmpl.render(c["messages"], c["add_generation_prompt"].get<bool>(), extra),
                  c["rendered"].get<std::string>());
    }
}

TEST(ChatTemplateReference, DeepSeekV3) {
    DSM_REQUIRE_TESTDATA();
    check_tokenizer("deepseek-v3");
}

TEST(ChatTemplateReference, Qwen25) {
    DSM_REQUIRE_TESTDATA();
    check_tokenizer("qwen2.5");
}

TEST(ChatTemplateReference, Qwen3) {
    DSM_REQUIRE_TESTDATA();
    check_tokenizer("qwen3");
}

// The DeepSeek template writes BOS itself: the rendered prompt starts with its text.
TEST(ChatTemplateReference, DeepSeekPromptStartsWithBosText) {
    DSM_REQUIRE_TESTDATA();
    const ojson config = dsm::test::tokenizer_config("deepseek-v3");
    const auto tmpl = dsm::ChatTemplate::from_source(config["chat_template"].get<std::string>());
    const std::string out = tmpl.render(ojson::parse(R"([{"role": "user", "content": "x"}])"), true,
                                        dsm::test::special_tokens(config));
    EXPECT_EQ(out.rfind(config["bos_token"]["content"].get<std::string>(), 0), 0u);
}

}  // namespace
