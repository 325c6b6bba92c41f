// dsm kld: KL divergence, perplexity and top-1 agreement of a model against its
// base on a text, scored like llama-perplexity --kl-divergence.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "commands.hpp"
#include "core/error.hpp"
#include "progress.hpp"
#include "quantize/kld.hpp"

namespace dsm::cli {

std::string read_text_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error("cannot open text file '" + path + "'");
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

int cmd_kld(int argc, char** argv) {
    CLI::App app{"KL divergence of models against their base (like llama-perplexity --kl-divergence)", "dsm kld"};
    std::string base_path, text_path;
    std::vector<std::string> model_paths;
    quantize::KldOptions opt;
    app.add_option("--base", base_path, "base model (e.g. the F32 original)")->required();
    app.add_option("-m,--model", model_paths, "model to compare, e.g. a quantization (repeatable: the base runs once)")
        ->required();
    app.add_option("-f,--file", text_path, "text to score")->required();
    app.add_option("-c,--ctx", opt.n_ctx, "tokens per chunk")->capture_default_str();
    app.add_option("--chunks", opt.n_chunks, "chunks to score (-1: all)")->capture_default_str();
    app.add_option("-t,--threads", opt.n_threads, "threads (default: all cores)");
    std::string dump;
    app.add_option("--dump", dump,
                   "write every scored token's KLD as raw float32 [model][token] (for paired comparisons)");
    CLI11_PARSE(app, argc, argv);

    auto base = Model::load(base_path);
    std::vector<std::shared_ptr<Model>> models;
    std::vector<const Model*> ptrs;
    for (const auto& p : model_paths) {
        models.push_back(Model::load(p));
        ptrs.push_back(models.back().get());
    }
    const std::string text = read_text_file(text_path);
    ProgressBar bar("chunks");
    opt.progress = [&](int i, int n) { bar.update(size_t(i), size_t(n)); };
    const auto results = quantize::compute_kld(*base, ptrs, text, opt);

    if (!dump.empty()) {
        std::ofstream f(dump, std::ios::binary);
        for (const auto& r : results)
            f.write(reinterpret_cast<const char*>(r.kld_per_token.data()), std::streamsize(r.kld_per_token.size() * 4));
        if (!f) throw Error("cannot write '" + dump + "'");
    }
    const double size_base = double(std::filesystem::file_size(base_path));
    for (size_t k = 0; k < results.size(); ++k) {
        const quantize::KldResult& r = results[k];
        const double size_model = double(std::filesystem::file_size(model_paths[k]));
        std::printf("== %s\n", model_paths[k].c_str());
        std::printf("chunks %d of %d tokens, %lld scored tokens\n", r.n_chunks, opt.n_ctx, (long long)r.n_tokens);
        std::printf("PPL(base)        %10.4f\n", r.ppl_base);
        std::printf("PPL(model)       %10.4f\n", r.ppl_model);
        std::printf("ln(PPL ratio)    %10.5f\n", r.ln_ppl_ratio);
        std::printf("mean KLD         %10.6f +- %.6f\n", r.mean_kld, r.mean_kld_err);
        std::printf("median KLD       %10.6f\n", r.median_kld);
        std::printf("99%% KLD          %10.5f\n", r.p99_kld);
        std::printf("99.9%% KLD        %10.5f\n", r.p999_kld);
        std::printf("max KLD          %10.4f\n", r.max_kld);
        std::printf("RMS dp           %10.3f %%\n", 100 * r.rms_dp);
        std::printf("same top p       %10.2f +- %.2f %%\n", 100 * r.same_top, 100 * r.same_top_err);
        std::printf("file size        %s / %s = %.4f of base\n", human_bytes(size_model).c_str(),
                    human_bytes(size_base).c_str(), size_model / size_base);
    }
    return 0;
}

}  // namespace dsm::cli
