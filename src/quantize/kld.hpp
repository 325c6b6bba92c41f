// KL divergence of a (quantized) model against its base, scored exactly as
// llama-perplexity --kl-divergence does, so the figures compare with llama.cpp's:
//
//  * tokens = the whole text tokenized with BOS; chunks of n_ctx tokens, each
//    chunk's first token replaced by BOS, evaluated from an empty cache;
//  * the logits at positions n_ctx/2 .. n_ctx-2 of each chunk are scored against
//    the next token (127 positions per chunk at n_ctx 256);
//  * the base's log-probabilities are stored as llama.cpp's base file stores them:
//    16-bit steps over [max - 16, max] nats (lower values clamped to the floor), and
//    KL(base || model) sums only over tokens above the floor;
//  * "same top" compares the model's argmax with the argmax of that rounded base.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dsm/dsm.hpp"

namespace dsm::quantize {

struct KldOptions {
    int n_ctx = 256;
    int n_chunks = -1;  // -1: every whole chunk of the text
    int n_threads = 0;
    std::function<void(int, int)> progress;  // (chunks done, total)
};

struct KldResult {
    int n_chunks = 0;
    int64_t n_tokens = 0;  // scored positions
    double ppl_base = 0, ppl_model = 0;
    double ln_ppl_ratio = 0;
    double mean_kld = 0, mean_kld_err = 0;  // llama.cpp's "±": standard error over tokens
    double median_kld = 0, p99_kld = 0, p999_kld = 0, max_kld = 0;
    double same_top = 0, same_top_err = 0;  // fractions
    double rms_dp = 0;                      // RMS of p_model(token) - p_base(token)
    std::vector<float> kld_per_token;       // in scoring order, for paired comparisons
};

// Both models must share the vocabulary; the text is tokenized with the base's.
KldResult compute_kld(const Model& base, const Model& model, const std::string& text, const KldOptions& options);
// Several models against one base, which is evaluated once per chunk.
std::vector<KldResult> compute_kld(const Model& base, const std::vector<const Model*>& models, const std::string& text,
                                   const KldOptions& options);

// llama.cpp's percentile of sorted values (linear interpolation between neighbours).
double kld_percentile(const std::vector<float>& sorted, double fraction);

}  // namespace dsm::quantize
