// Tokenizer throughput: encodes ~1 MB of mixed-script text (the tokenizer test
// corpus, repeated) with the DeepSeek-V3 tokenizer.json on one thread and prints
// MB/s for encode and decode.
//
//   bench_tokenizer [testdata_dir] [tokenizer_dir]
// testdata_dir defaults to $DSM_TESTDATA, then to the path baked in at build time
// (DSM_DEFAULT_TESTDATA); tokenizer_dir to <testdata>/tokenizer/hf/deepseek-v3.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
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

// The corpus texts joined by newlines, repeated until at least `target_bytes`.
std::string build_text(const std::filesystem::path& corpus, size_t target_bytes) {
    std::ifstream in(corpus);
    if (!in) throw dsm::Error("cannot open " + corpus.string());
    std::vector<std::string> texts;
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) texts.push_back(nlohmann::json::parse(line).at("text").get<std::string>());
    if (texts.empty()) throw dsm::Error(corpus.string() + " has no texts");
    std::string out;
    do {
        for (const std::string& t : texts) (out += t) += '\n';
    } while (out.size() < target_bytes);
    return out;
}

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

struct Timing {
    double wall = 1e30;
    double cpu = 1e30;  // this thread's CPU time: robust when other processes share the cores
};

// Best-of-n times of f().
template <class F>
Timing best_time(int n, F&& f) {
    Timing best;
    for (int r = 0; r < n; ++r) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = thread_cpu_seconds();
        f();
        best.cpu = std::min(best.cpu, thread_cpu_seconds() - c0);
        best.wall = std::min(best.wall, seconds_since(t0));
    }
    return best;
}

void report(const char* what, double megabytes, const Timing& t) {
    std::printf("%s: %.1f MB/s wall, %.1f MB/s per CPU-second\n", what, megabytes / t.wall, megabytes / t.cpu);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        const char* env = std::getenv("DSM_TESTDATA");
#ifdef DSM_DEFAULT_TESTDATA
        const char* fallback = DSM_DEFAULT_TESTDATA;
#else
        const char* fallback = "";
#endif
        const std::filesystem::path data = argc > 1 ? argv[1] : env && *env ? env : fallback;
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
        std::vector<int32_t> ids;
        const Timing t_encode = best_time(kRuns, [&] { ids = tok->encode(text, false, true); });
        std::string back;
        const Timing t_decode = best_time(kRuns, [&] { back = tok->decode(ids); });
        if (back != text) throw dsm::Error("decode(encode(text)) != text");
        std::printf("text: %.2f MB, %zu tokens (%.2f bytes/token), best of %d runs\n", mb, ids.size(),
                    double(text.size()) / double(ids.size()), kRuns);
        report("encode", mb, t_encode);
        report("decode", mb, t_decode);

        // The corpus once, without repetition: every piece is new to the per-call cache.
        const std::string once = build_text(data / "tokenizer/reference/corpus.jsonl", 0);
        report("encode, corpus once (no repetition)", double(once.size()) / 1e6,
               best_time(20, [&] { (void)tok->encode(once, false, true); }));
        return 0;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
}
