// Reading the llama.cpp goldens of ../shared/testdata/golden and comparing with them.
#pragma once
#include <nlohmann/json.hpp>

#include <filesystem>
#include <string>
#include <vector>

#include "common/testdata.hpp"

namespace dsm::test {

struct GoldenPrompt {
    std::vector<int32_t> tokens;
    std::vector<float> logits;        // [n_tokens][n_vocab]
    std::vector<int32_t> continuation;
    std::vector<float> margins;
};

inline std::vector<int> golden_prompt_sizes() { return {1, 8, 40}; }

inline GoldenPrompt read_golden(const std::string& model, int k) {
    const auto dir = testdata_dir() / "golden" / model;
    const std::string stem = "prompt_" + std::to_string(k);
    GoldenPrompt g;
    auto tj = nlohmann::json::parse(read_file(dir / (stem + ".tokens.json")));
    g.tokens = tj["tokens"].get<std::vector<int32_t>>();
    g.logits = read_f32(dir / (stem + ".logits.f32"));
    auto gj = nlohmann::json::parse(read_file(dir / (stem + ".greedy.json")));
    g.continuation = gj["continuation"].get<std::vector<int32_t>>();
    g.margins = gj["margins"].get<std::vector<float>>();
    return g;
}

// Every model that has goldens, by name ("dsv3-tiny.f32").
inline std::vector<std::string> golden_models() {
    std::vector<std::string> out;
    if (!have_testdata()) return out;
    for (const auto& e : std::filesystem::directory_iterator(testdata_dir() / "golden"))
        if (e.is_directory()) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
}

inline bool is_f32_model(const std::string& name) {
    return name.size() > 4 && name.substr(name.size() - 4) == ".f32";
}
inline bool is_f32_model_or_stories(const std::string& name) { return is_f32_model(name) || name == "stories260K"; }

}  // namespace dsm::test
