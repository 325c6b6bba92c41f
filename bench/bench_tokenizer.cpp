// Tokenizer throughput: encodes ~1 MB of mixed-script text (the tokenizer test
// corpus, repeated) with the DeepSeek-V3 tokenizer.json on one thread and prints
// MB/s for encode and decode.
//
//   bench_tokenizer [testdata_dir] [tokenizer_dir]
// testdata_dir defaults to $DSM_TESTDATA; tokenizer_dir to <testdata>/tokenizer/hf/deepseek-v3.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string build_text(const std::filesystem::path& corpus, size_t target_bytes) {
    std::ifstream in(corpus);
    if (!in) throw dsm::Error("cannot open " + corpus.string());
    std::vector<std::string> texts;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    if (texts.empty()) throw dsm::Error(corpus.string() + " has no texts");
    std::string out;
    while (out.size() < target_bytes)
        for (const std::string& t : texts) (out += t) += '\n';
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const char* env = std::getenv("DSM_TESTDATA");
        const std::filesystem::path data = argc > 1 ? argv[1] : env ? env : "";
        if (data.empty()) {
            std::fprintf(stderr, "usage: %s <testdata_dir> [tokenizer_dir]  (or set DSM_TESTDATA)\n", argv[0]);
            return 2;
        }
        const std::filesystem::path tok_dir = argc > 2 ? argv[2] : data / "tokenizer/hf/deepseek-v3";

        auto t0 = std::chrono::steady_clock::now();
        const auto tok = dsm::Tokenizer::from_hf_files((tok_dir / "tokenizer.json").string(),
                                                       (tok_dir / "tokenizer_config.json").string());
        std::printf("load %s: %.3f s\n", tok_dir.string().c_str(), seconds_since(t0));

        const std::string text = build_text(data / "tokenizer/reference/corpus.jsonl", 1 << 20);
        const double mb = double(text.size()) / 1e6;
        constexpr int kRuns = 5;
        double best_encode = 1e30, best_decode = 1e30;
        size_t n_tokens = 0;
        for (int r = 0; r < kRuns; ++r) {
            t0 = std::chrono::steady_clock::now();
            const auto ids = tok->encode(text, false, true);
            best_encode = std::min(best_encode, seconds_since(t0));
            n_tokens = ids.size();
            t0 = std::chrono::steady_clock::now();
            const std::string back = tok->decode(ids);
            best_decode = std::min(best_decode, seconds_since(t0));
            if (back != text) throw dsm::Error("decode(encode(text)) != text");
        }
        std::printf("text: %.2f MB, %zu tokens (%.2f bytes/token)\n", mb, n_tokens, double(text.size()) / double(n_tokens));
        std::printf("encode: %.1f MB/s (best of %d)\n", mb / best_encode, kRuns);
        std::printf("decode: %.1f MB/s (best of %d)\n", mb / best_decode, kRuns);
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
