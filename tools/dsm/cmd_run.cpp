// dsm run: generate text from a prompt, streaming it to stdout, with a summary of
// load time, speeds and peak memory on stderr.
#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>

#include "commands.hpp"
#include "dsm/dsm.hpp"

namespace dsm::cli {

void add_sampling_options(CLI::App& app, SamplerParams& s) {
    app.add_option("--temp", s.temperature, "temperature; 0 = greedy")->capture_default_str();
    app.add_option("--top-k", s.top_k, "top-k (0 = off)")->capture_default_str();
    app.add_option("--top-p", s.top_p, "top-p (1 = off)")->capture_default_str();
    app.add_option("--min-p", s.min_p, "min-p (0 = off)")->capture_default_str();
    app.add_option("--repeat-penalty", s.repeat_penalty, "repetition penalty (1 = off)")->capture_default_str();
    app.add_option("--repeat-last-n", s.penalty_last_n, "tokens the penalties look back over (-1 = all)")->capture_default_str();
    app.add_option("--frequency-penalty", s.frequency_penalty, "frequency penalty")->capture_default_str();
    app.add_option("--presence-penalty", s.presence_penalty, "presence penalty")->capture_default_str();
    app.add_option("-s,--seed", s.seed, "random seed")->capture_default_str();
}

int cmd_run(int argc, char** argv) {
    CLI::App app{"Generate text from a prompt", "dsm run"};
    std::string path, prompt, tokens, kv = "f16";
    int n_predict = 128, threads = 0, n_ctx = 0;
    bool ignore_eos = false, no_bos = false, special = false, pin = false, print_ids = false;
    SamplerParams sp;
    LoadOptions load_options;
    add_load_options(app, load_options);
    app.add_option("-m,--model", path, "GGUF model file")->required();
    auto* p_opt = app.add_option("-p,--prompt", prompt, "prompt text");
    app.add_option("--tokens", tokens, "prompt as comma-separated token ids")->excludes(p_opt);
    app.add_option("-n,--n-predict", n_predict, "tokens to generate")->capture_default_str();
    app.add_option("-t,--threads", threads, "threads (default: all cores)");
    app.add_option("-c,--ctx", n_ctx, "context length (default: the model's, at most 4096)");
    app.add_option("--kv-type", kv, "KV cache type")->check(CLI::IsMember({"f16", "f32"}))->capture_default_str();
    app.add_flag("--ignore-eos", ignore_eos, "keep generating after end-of-generation tokens");
    app.add_flag("--no-bos", no_bos, "do not add BOS to a text prompt");
    app.add_flag("--special", special, "parse special-token text in the prompt (e.g. <｜User｜>)");
    app.add_flag("--pin", pin, "pin threads to cores");
    app.add_flag("--ids", print_ids, "print the generated token ids instead of text (to compare with other engines)");
    add_sampling_options(app, sp);
    CLI11_PARSE(app, argc, argv);

    const auto t0 = std::chrono::steady_clock::now();
    auto model = Model::load(path, load_options);
    ContextParams cp;
    cp.n_threads = threads;
    cp.n_ctx = n_ctx;
    cp.kv_type = kv == "f32" ? KvCacheType::F32 : KvCacheType::F16;
    cp.pin_threads = pin;
    auto ctx = model->create_context(cp);
    const double load_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    std::vector<int32_t> ids;
    if (!tokens.empty()) {
        for (int t : parse_token_list(tokens)) ids.push_back(t);
    } else {
        ids = model->tokenize(prompt, !no_bos, special);
        if (ids.empty()) throw Error("the prompt is empty and the model adds no BOS: nothing to start from");
    }

    std::unique_ptr<TextStream> stream = model->has_tokenizer() && !print_ids ? model->text_stream(prompt.empty()) : nullptr;
    if (stream && tokens.empty()) std::fputs(prompt.c_str(), stdout);
    const GenerateStats st = ctx->generate(ids, n_predict, sp, [&](int32_t tok) {
        if (stream) {
            if (!ignore_eos && model->is_end_of_generation(tok)) return true;
            std::fputs(stream->push(tok).c_str(), stdout);
        } else {
            std::printf("%d ", tok);
        }
        std::fflush(stdout);
        return true;
    }, ignore_eos);
    if (stream) std::fputs(stream->flush().c_str(), stdout);
    std::printf("\n");

    std::fprintf(stderr, "\nload %.3f s | first token at %.3f s | prompt %d tok, %.2f tok/s | generated %d tok, %.2f tok/s | peak RSS %s%s\n", load_s,
                 load_s + st.prompt_seconds, st.n_prompt, st.prompt_seconds > 0 ? st.n_prompt / st.prompt_seconds : 0.0, st.n_generated,
                 st.generate_seconds > 0 && st.n_generated > 1 ? (st.n_generated - 1) / st.generate_seconds : 0.0,
                 human_bytes(double(peak_rss_bytes())).c_str(),
                 st.hit_end_token ? " | stopped at end token" : st.hit_context_limit ? " | context full" : "");
    return 0;
}

}  // namespace dsm::cli
