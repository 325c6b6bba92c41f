// Helpers shared by the chat template tests.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "common/testdata.hpp"

namespace dsm::test {

using ojson = nlohmann::ordered_json;

inline std::filesystem::path chat_tests_dir() { return std::filesystem::path(__FILE__).parent_path(); }

inline ojson read_json(const std::filesystem::path& p) { return ojson::parse(read_file(p)); }

// tokenizer_config.json of hf/<name>/ in the shared test data.
inline ojson tokenizer_config(const std::string& name) {
    return read_json(testdata_dir() / "tokenizer" / "hf" / name / "tokenizer_config.json");
}

// What transformers passes as special-token variables: each special token that is
// set, as its text (config entries are strings or {"content": ...} objects).
inline ojson special_tokens(const ojson& config) {
    ojson out = ojson::object();
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
        if (!config.contains(key) || config[key].is_null()) continue;
        const ojson& v = config[key];
        out[key] = v.is_object() ? v["content"] : v;
    }
    if (config.contains("additional_special_tokens")) out["additional_special_tokens"] = config["additional_special_tokens"];
    return out;
}

}  // namespace dsm::test
