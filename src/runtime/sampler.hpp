// Token sampling: penalties, then greedy or temperature sampling with top-k, top-p
// and min-p truncation, from a seeded generator (same seed, same tokens).
#pragma once
#include <cstdint>
#include <random>
#include <span>
#include <vector>

#include "dsm/dsm.hpp"

namespace dsm {

class Sampler {
public:
    explicit Sampler(const SamplerParams& p);
    // Picks the next token. `logits` (n_vocab values) is modified; `history` is the
    // token sequence so far, for the penalties.
    int32_t sample(float* logits, int64_t n_vocab, std::span<const int32_t> history);

    static int32_t argmax(const float* logits, int64_t n_vocab);  // ties to the lowest id

private:
    void apply_penalties(float* logits, int64_t n_vocab, std::span<const int32_t> history) const;
    double uniform();  // [0, 1), platform-independent

    SamplerParams p_;
    std::mt19937_64 rng_;
    std::vector<std::pair<float, int32_t>> cand_;
};

}  // namespace dsm
