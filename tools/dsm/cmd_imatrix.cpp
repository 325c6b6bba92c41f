// dsm imatrix: collect an importance matrix (mean x² of every weight product's
// inputs) over a calibration text, in llama.cpp's imatrix.dat format.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <filesystem>

#include "commands.hpp"
#include "progress.hpp"
#include "quantize/imatrix.hpp"

namespace dsm::cli {

std::string read_text_file(const std::string& path);  // cmd_kld.cpp

int cmd_imatrix(int argc, char** argv) {
    CLI::App app{"Compute an importance matrix for quantization (llama.cpp imatrix.dat format)", "dsm imatrix"};
    std::string model_path, text_path, out = "imatrix.dat";
    quantize::ImatrixOptions opt;
    app.add_option("-m,--model", model_path, "GGUF model (F32 or F16 preferred)")->required();
    app.add_option("-f,--file", text_path, "calibration text")->required();
    app.add_option("-o,--output", out, "output file")->capture_default_str();
    app.add_option("-c,--ctx", opt.n_ctx, "tokens per chunk")->capture_default_str();
    app.add_option("--chunks", opt.n_chunks, "chunks to process (-1: all)")->capture_default_str();
    app.add_option("-t,--threads", opt.n_threads, "threads (default: all cores)");
    app.add_flag("--process-output", opt.process_output, "also collect output.weight");
    CLI11_PARSE(app, argc, argv);

    const std::string text = read_text_file(text_path);
    opt.dataset = std::filesystem::path(text_path).filename().string();
    ProgressBar bar("chunks");
    opt.progress = [&](int i, int n) { bar.update(size_t(i), size_t(n)); };
    opt.log = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
    const quantize::Imatrix m = quantize::compute_imatrix(model_path, text, opt);
    m.save(out);
    std::fprintf(stderr, "%s: %zu entries from %d chunks of %d tokens\n", out.c_str(), m.entries.size(), m.chunks,
                 opt.n_ctx);
    return 0;
}

}  // namespace dsm::cli
