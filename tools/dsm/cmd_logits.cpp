// dsm logits: all-position logits of a token sequence as raw little-endian float32
// [n_tokens][n_vocab], for comparing numerics with other engines.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <fstream>

#include "commands.hpp"
#include "dsm/dsm.hpp"

namespace dsm::cli {

int cmd_logits(int argc, char** argv) {
    CLI::App app{"Write all-position logits of a token sequence as raw float32 [n_tokens][n_vocab]", "dsm logits"};
    std::string path, tokens, text, out;
    int threads = 0;
    std::string kv = "f32";
    LoadOptions load_options;
    add_load_options(app, load_options);
    app.add_option("-m,--model", path, "GGUF model file")->required();
    auto* tok_opt = app.add_option("--tokens", tokens, "comma-separated token ids, e.g. 1,2,3");
    app.add_option("-p,--prompt", text, "text (tokenized with the model's vocabulary, BOS added as configured)")->excludes(tok_opt);
    app.add_option("-o,--output", out, "output file")->required();
    app.add_option("-t,--threads", threads, "threads (default: all)");
    app.add_option("--kv-type", kv, "KV cache type: f32 (default here, exact) or f16")->check(CLI::IsMember({"f16", "f32"}));
    CLI11_PARSE(app, argc, argv);

    auto model = Model::load(path, load_options);
    std::vector<int32_t> ids;
    if (!tokens.empty()) {
        for (int t : parse_token_list(tokens)) ids.push_back(t);
    } else if (!text.empty()) {
        ids = model->tokenize(text, true, false);
    } else {
        throw Error("give --tokens or --prompt");
    }
    ContextParams cp;
    cp.n_threads = threads;
    cp.kv_type = kv == "f16" ? KvCacheType::F16 : KvCacheType::F32;
    cp.n_ctx = std::max<int>(int(ids.size()), int(std::min<int64_t>(model->info().n_ctx_train, 4096)));
    auto ctx = model->create_context(cp);
    ctx->set_input("input_ids", Tensor::tokens(ids));
    ctx->invoke();
    const Tensor& logits = ctx->get_output("logits");
    std::ofstream f(out, std::ios::binary);
    if (!f) throw Error("cannot write '" + out + "'");
    f.write(reinterpret_cast<const char*>(logits.f32()), std::streamsize(logits.numel() * 4));
    if (!f) throw Error("write to '" + out + "' failed");
    std::fprintf(stderr, "wrote %lld x %lld logits to %s\n", (long long)logits.shape()[0], (long long)logits.shape()[1],
                 out.c_str());
    return 0;
}

}  // namespace dsm::cli
