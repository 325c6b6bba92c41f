// dsm — command-line front end of libdsm.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "commands.hpp"
#include "dsm/dsm.hpp"

namespace {

struct Command {
    const char* name;
    int (*fn)(int, char**);
    const char* help;
};

const Command kCommands[] = {
    {"run", dsm::cli::cmd_run, "generate text from a prompt"},
    {"chat", dsm::cli::cmd_chat, "chat with a model using its chat template"},
    {"tokenize", dsm::cli::cmd_tokenize, "text to token ids (model vocabulary or tokenizer.json)"},
    {"info", dsm::cli::cmd_info, "print a model file's architecture, sizes and memory needs"},
    {"logits", dsm::cli::cmd_logits, "write all-position logits of a token sequence (raw float32)"},
    {"bench", dsm::cli::cmd_bench, "measure prompt and generation speed (like llama-bench)"},
    {"gen-model", dsm::cli::cmd_gen_model, "write a random-weight GGUF with a real model's shapes"},
    {"convert", dsm::cli::cmd_convert, "convert a Hugging Face checkpoint (safetensors) to GGUF"},
    {"quantize", dsm::cli::cmd_quantize, "quantize a GGUF model (q4_k_m, q8_0, int4-int8, ...)"},
    {"imatrix", dsm::cli::cmd_imatrix, "compute an importance matrix from calibration text"},
    {"kld", dsm::cli::cmd_kld, "KL divergence and perplexity of a model against its base"},
};

void usage(FILE* out) {
    std::fprintf(out, "usage: dsm <command> [options]\n\ncommands:\n");
    for (const Command& c : kCommands) std::fprintf(out, "  %-10s %s\n", c.name, c.help);
    std::fprintf(out, "\n'dsm <command> --help' shows a command's options.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (const Command& c : kCommands) {
        if (std::strcmp(argv[1], c.name) != 0) continue;
        try {
            return c.fn(argc - 1, argv + 1);
        } catch (const std::exception& e) {
            std::fprintf(stderr, "dsm %s: error: %s\n", c.name, e.what());
            return 1;
        }
    }
    std::fprintf(stderr, "dsm: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
