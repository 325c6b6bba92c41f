// Shared helpers for the tokenizer tests: tokenizers loaded once per process (the
// big tokenizer.json files take a while), and readers for the reference files.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/testdata.hpp"
#include "formats/gguf.hpp"
#include "tokenizer/tokenizer.hpp"

namespace dsm::test {

inline const Tokenizer& cached_tokenizer(const std::string& key, const std::function<std::unique_ptr<Tokenizer>()>& make) {
    static std::mutex mu;
    static std::map<std::string, std::unique_ptr<Tokenizer>> cache;
    std::lock_guard<std::mutex> lock(mu);
    auto& slot = cache[key];
    if (!slot) slot = make();
    return *slot;
}

// hf/<name>/ under tokenizer/ (deepseek-v3, qwen2.5, qwen3) or the models' hf/ twins.
inline const Tokenizer& hf_tokenizer(const std::string& dir) {
    return cached_tokenizer("hf:" + dir, [&] {
        const auto d = testdata_dir() / dir;
        return Tokenizer::from_hf_files((d / "tokenizer.json").string(), (d / "tokenizer_config.json").string());
    });
}

inline const Tokenizer& gguf_tokenizer(const std::string& rel_path) {
    return cached_tokenizer("gguf:" + rel_path, [&] {
        const auto file = gguf::File::open((testdata_dir() / rel_path).string());
        return Tokenizer::from_vocab(vocab_from_gguf(*file));
    });
}

inline std::vector<nlohmann::json> read_jsonl(const std::filesystem::path& p) {
    std::vector<nlohmann::json> out;
    std::istringstream in(read_file(p));
    std::string line;
    while (std::getline(in, line))
        if (!line.empty()) out.push_back(nlohmann::json::parse(line));
    return out;
}

// llama.cpp's .inp: strings each followed by "\n__ggml_vocab_test__\n".
inline std::vector<std::string> read_inp(const std::filesystem::path& p) {
    const std::string text = read_file(p);
    const std::string sep = "\n__ggml_vocab_test__\n";
    std::vector<std::string> out;
    size_t pos = 0;
    for (size_t next; (next = text.find(sep, pos)) != std::string::npos; pos = next + sep.size())
        out.push_back(text.substr(pos, next - pos));
    return out;
}

// llama.cpp's .out: one line of " id id ..." per test string.
inline std::vector<std::vector<int32_t>> read_out(const std::filesystem::path& p) {
    std::vector<std::vector<int32_t>> out;
    std::istringstream in(read_file(p));
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::vector<int32_t> ids;
        for (int32_t id; ls >> id;) ids.push_back(id);
        out.push_back(std::move(ids));
    }
    return out;
}

inline std::string ids_str(const std::vector<int32_t>& ids) {
    std::string s;
    for (int32_t id : ids) {
        if (!s.empty()) s += ' ';
        s += std::to_string(id);
    }
    return s;
}

}  // namespace dsm::test
