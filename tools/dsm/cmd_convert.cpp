// dsm convert: Hugging Face checkpoint folder -> GGUF (optionally quantized).
#include <CLI/CLI.hpp>

#include <cstdio>

#include "commands.hpp"
#include "convert/converter.hpp"
#include "progress.hpp"

namespace dsm::cli {

int cmd_convert(int argc, char** argv) {
    CLI::App app{"Convert a Hugging Face checkpoint (safetensors: F32, F16, BF16, FP8) to GGUF", "dsm convert"};
    std::string dir, out;
    convert::ConvertOptions opt;
    app.add_option("hf-folder", dir, "folder with config.json, tokenizer.json and *.safetensors")->required();
    app.add_option("-o,--output", out, "output GGUF file")->required();
    app.add_option("--type", opt.type, "f32, f16, bf16, q8_0, q4_0, q4_k_m, ... (see dsm quantize --help)")
        ->capture_default_str();
    app.add_option("--name", opt.name, "general.name (default: the folder's name)");
    app.add_option("-t,--threads", opt.n_threads, "threads (default: all cores)");
    CLI11_PARSE(app, argc, argv);

    ProgressBar bar("tensors");
    opt.progress = [&](size_t i, size_t n, uint64_t bytes, uint64_t total) { bar.update(i, n, bytes, total); };
    opt.log = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
    const auto r = convert::convert_hf_to_gguf(dir, out, opt);
    std::fprintf(stderr, "%s: %s, %zu tensors, %s;", out.c_str(), r.architecture.c_str(), r.n_tensors,
                 human_bytes(double(r.file_bytes)).c_str());
    for (const auto& [t, n] : r.tensors_by_type) std::fprintf(stderr, " %s x%d", t.c_str(), n);
    std::fprintf(stderr, "; peak RSS %s\n", human_bytes(double(peak_rss_bytes())).c_str());
    return 0;
}

}  // namespace dsm::cli
