// dsm quantize: rewrite a GGUF model with a quantization recipe (llama-quantize's
// mixtures, or int4-int8), optionally weighted by an importance matrix.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.hpp"
#include "core/error.hpp"
#include "progress.hpp"
#include "quantize/quantize_model.hpp"

namespace dsm::cli {

int cmd_quantize(int argc, char** argv) {
    std::string names;
    for (const auto& r : quantize::recipes())
        names += "  " + std::string(r.name) + std::string(12 - r.name.size(), ' ') + std::string(r.help) + "\n";
    CLI::App app{"Quantize a GGUF model.\n\nTypes:\n" + names, "dsm quantize"};
    std::string in, out, type, imatrix_path;
    int threads = 0;
    std::vector<std::string> overrides;
    bool allow_requantize = false;
    app.add_option("input", in, "input GGUF (F32, F16 or BF16)")->required();
    app.add_option("output", out, "output GGUF")->required();
    app.add_option("type", type, "recipe, e.g. q4_k_m, q8_0, int4-int8")->required();
    app.add_option("--imatrix", imatrix_path, "importance matrix (llama.cpp imatrix.dat format, from dsm imatrix)");
    float power = 0.5f;
    app.add_option("--imatrix-power", power, "importance = (mean x^2)^P; llama-quantize uses 1")->capture_default_str();
    app.add_option("-t,--threads", threads, "threads (default: all cores)");
    app.add_option("--tensor-type", overrides, "override: REGEX=TYPE, e.g. 'attn_v=q8_0' (repeatable)");
    app.add_flag("--allow-requantize", allow_requantize, "accept input tensors that are already quantized");
    CLI11_PARSE(app, argc, argv);

    quantize::QuantizeOptions opt;
    opt.recipe = type;
    opt.n_threads = threads;
    opt.allow_requantize = allow_requantize;
    opt.importance_power = power;
    for (const std::string& o : overrides) {
        const size_t eq = o.rfind('=');
        const auto t = eq == std::string::npos ? std::nullopt : dtype_from_name(o.substr(eq + 1));
        if (!t) throw Error("--tensor-type '" + o + "': expected REGEX=TYPE with a type such as q8_0");
        opt.overrides.push_back({o.substr(0, eq), *t});
    }
    quantize::Imatrix imatrix;
    if (!imatrix_path.empty()) {
        imatrix = quantize::Imatrix::load(imatrix_path);
        opt.imatrix = &imatrix;
        opt.imatrix_path = imatrix_path;
        std::fprintf(stderr, "imatrix: %zu entries from %d chunks of '%s'\n", imatrix.entries.size(), imatrix.chunks,
                     imatrix.dataset.c_str());
    }
    opt.log = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
    ProgressBar bar("tensors");
    opt.progress = [&](size_t i, size_t n, uint64_t bytes) { bar.update(i, n, bytes); };

    const auto stats = quantize::quantize_gguf(in, out, opt);
    std::fprintf(stderr, "%s: %zu tensors, %s -> %s (%.2fx smaller)", out.c_str(), stats.n_tensors,
                 human_bytes(double(stats.bytes_in)).c_str(), human_bytes(double(stats.bytes_out)).c_str(),
                 double(stats.bytes_in) / double(stats.bytes_out));
    std::fprintf(stderr, "; types:");
    for (const auto& [t, n] : stats.tensors_by_type) std::fprintf(stderr, " %s x%d", t.c_str(), n);
    if (opt.imatrix) std::fprintf(stderr, "; %zu with importance", stats.with_importance);
    std::fprintf(stderr, "\n");
    return 0;
}

}  // namespace dsm::cli
