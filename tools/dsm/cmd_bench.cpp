// dsm bench: prompt processing (pp) and token generation (tg) speed, like llama-bench.
// pp N: N random tokens in one batch on an empty cache; tg N: N tokens one at a time
// on an empty cache. Each test runs -r times after a warm-up; mean ± sd of tok/s.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <thread>

#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "kernels/kernels.hpp"

namespace dsm::cli {
namespace {

struct Result {
    std::string test;
    int n;
    double mean, sd;
    std::vector<double> samples;
};

// Times `tokens` after `depth` tokens of context. The context is filled once (untimed)
// and cut back to the depth before each later run, so deep tests cost one fill.
double time_run(Context& ctx, const std::vector<int32_t>& tokens, bool one_by_one, const std::vector<int32_t>& depth,
                bool& depth_filled) {
    if (depth.empty() || !depth_filled) {
        ctx.clear();
        depth_filled = false;
    }
    if (!depth.empty()) {
        if (depth_filled) {
            ctx.truncate(int(depth.size()));
        } else {
            ctx.set_input("input_ids", Tensor::tokens(depth));
            ctx.invoke();
            depth_filled = true;
        }
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (one_by_one) {
        for (int32_t t : tokens) {
            ctx.set_input("input_ids", Tensor::tokens({t}));
            ctx.invoke();
        }
    } else {
        ctx.set_input("input_ids", Tensor::tokens(tokens));
        ctx.invoke();
    }
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int cmd_bench(int argc, char** argv) {
    CLI::App app{"Measure prompt and generation speed", "dsm bench"};
    std::string path, kv = "f16";
    int n_prompt = 512, n_gen = 128, threads = 0, reps = 3, depth = 0;
    bool json = false, pin = false;
    LoadOptions load_options;
    add_load_options(app, load_options);
    app.add_option("-m,--model", path, "GGUF model file")->required();
    app.add_option("-p,--n-prompt", n_prompt, "prompt tokens (0 = skip)")->capture_default_str();
    app.add_option("-n,--n-gen", n_gen, "generated tokens (0 = skip)")->capture_default_str();
    app.add_option("-t,--threads", threads, "threads (default: all cores)");
    app.add_option("-r,--repetitions", reps, "repetitions")->capture_default_str();
    app.add_option("-d,--depth", depth, "tokens already in the cache before each test (untimed)")->capture_default_str();
    app.add_option("--kv-type", kv, "KV cache type")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
    app.add_flag("--json", json, "JSON output");
    app.add_flag("--pin", pin, "pin threads to cores");
    CLI11_PARSE(app, argc, argv);
    if (reps < 1) throw Error("--repetitions must be >= 1");

    const auto t0 = std::chrono::steady_clock::now();
    auto model = Model::load(path, load_options);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const ModelInfo& mi = model->info();
    ContextParams cp;
    cp.n_threads = threads;
    cp.n_ctx = depth + std::max(n_prompt, n_gen) + 8;
    cp.n_batch = std::max({1, n_prompt, depth});
    cp.kv_type = kv == "f32" ? KvCacheType::F32 : KvCacheType::F16;
    cp.pin_threads = pin;
    cp.logits_all = false;  // as llama-bench: only the last token's logits
    auto ctx = model->create_context(cp);
    if (threads <= 0) threads = int(std::thread::hardware_concurrency());

    std::mt19937 rng(42);
    std::uniform_int_distribution<int32_t> tok(0, int32_t(mi.n_vocab - 1));
    std::vector<Result> results;
    std::vector<int32_t> prefix(static_cast<size_t>(depth));
    for (auto& t : prefix) t = tok(rng);
    auto bench = [&](const char* name, int n, bool one_by_one) {
        if (n <= 0) return;
        std::vector<int32_t> ids(static_cast<size_t>(n));
        for (auto& t : ids) t = tok(rng);
        bool filled = false;
        time_run(*ctx, std::vector<int32_t>(ids.begin(), ids.begin() + std::min(n, 16)), one_by_one, {}, filled);  // warm-up
        Result r{std::string(name) + std::to_string(n) + (depth ? " @ d" + std::to_string(depth) : ""), n, 0, 0, {}};
        for (int i = 0; i < reps; ++i) r.samples.push_back(n / time_run(*ctx, ids, one_by_one, prefix, filled));
        for (double s : r.samples) r.mean += s / reps;
        for (double s : r.samples) r.sd += (s - r.mean) * (s - r.mean) / std::max(1, reps - 1);
        r.sd = std::sqrt(r.sd);
        results.push_back(r);
    };
    bench("pp", n_prompt, false);
    bench("tg", n_gen, true);

    const std::string isa(kernels::active().isa);
    if (json) {
        nlohmann::json j;
        j["model"] = path;
        j["architecture"] = mi.architecture;
        j["size_bytes"] = mi.weight_bytes;
        j["n_params"] = mi.n_params;
        j["threads"] = threads;
        j["kernels"] = isa;
        j["load_seconds"] = load_s;
        j["peak_rss_bytes"] = peak_rss_bytes();
        j["decode_bytes_per_token"] = mi.decode_bytes_per_token;
        for (const Result& r : results)
            j["tests"].push_back({{"test", r.test}, {"n_tokens", r.n}, {"tokens_per_second", r.mean}, {"sd", r.sd},
                                  {"samples", r.samples}});
        std::printf("%s\n", j.dump(2).c_str());
    } else {
        std::printf("| model | size | params | kernels | threads | test | t/s |\n|---|---|---|---|---|---|---|\n");
        for (const Result& r : results)
            std::printf("| %s | %s | %.2f B | %s | %d | %s | %.2f ± %.2f |\n", mi.architecture.c_str(),
                        human_bytes(double(mi.weight_bytes)).c_str(), double(mi.n_params) / 1e9, isa.c_str(), threads,
                        r.test.c_str(), r.mean, r.sd);
        std::printf("\nload %.3f s, peak RSS %s\n", load_s, human_bytes(double(peak_rss_bytes())).c_str());
        // Generation reads every weight once per token: tok/s x bytes read is the
        // bandwidth it achieves, to hold against the machine's (bench/bandwidth.cpp).
        for (const Result& r : results)
            if (r.test.rfind("tg", 0) == 0)
                std::printf("%s: %s of weights per token, %.1f GB/s effective\n", r.test.c_str(),
                            human_bytes(double(mi.decode_bytes_per_token)).c_str(),
                            r.mean * double(mi.decode_bytes_per_token) / 1e9);
    }
    return 0;
}

}  // namespace dsm::cli
