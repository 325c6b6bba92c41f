// Subcommands of the `dsm` tool. Each lives in its own cmd_<name>.cpp, parses its
// own options with CLI11, and returns the process exit code.
#pragma once
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "dsm/dsm.hpp"

namespace dsm::cli {

int cmd_run(int argc, char** argv);
int cmd_info(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_gen_model(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_convert(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_imatrix(int argc, char** argv);
int cmd_kld(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_chat(int argc, char** argv);

// Sampling flags shared by run and chat.
void add_sampling_options(CLI::App& app, SamplerParams& s);

// Model loading flags shared by the commands that generate (--no-repack, --huge-pages, --mlock).
void add_load_options(CLI::App& app, LoadOptions& o);

// Peak resident set size of this process in bytes.
long long peak_rss_bytes();
// "1.23 GiB"
std::string human_bytes(double bytes);
// Parses "1,2,3" into token ids; throws dsm::Error on bad numbers.
std::vector<int> parse_token_list(const std::string& s);

}  // namespace dsm::cli
