#include "runtime/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <unordered_map>

namespace dsm {

Sampler::Sampler(const SamplerParams& p) : p_(p), rng_(p.seed) {}

int32_t Sampler::argmax(const float* logits, int64_t n_vocab) {
    int64_t best = 0;
    for (int64_t i = 1; i < n_vocab; ++i)
        if (logits[i] > logits[best]) best = i;
    return int32_t(best);
}

double Sampler::uniform() { return double(rng_() >> 11) * (1.0 / 9007199254740992.0); }

void Sampler::apply_penalties(float* logits, int64_t n_vocab, std::span<const int32_t> history) const {
    if (p_.repeat_penalty == 1.0f && p_.frequency_penalty == 0.0f && p_.presence_penalty == 0.0f) return;
    size_t start = 0;
    if (p_.penalty_last_n >= 0 && history.size() > size_t(p_.penalty_last_n)) start = history.size() - size_t(p_.penalty_last_n);
    std::unordered_map<int32_t, int> count;
    for (size_t i = start; i < history.size(); ++i) ++count[history[i]];
    for (const auto& [tok, c] : count) {
        if (tok < 0 || tok >= n_vocab) continue;
        float& l = logits[tok];
        // As llama.cpp: dividing a negative logit would raise its probability.
        l = l > 0 ? l / p_.repeat_penalty : l * p_.repeat_penalty;
        l -= float(c) * p_.frequency_penalty + p_.presence_penalty;
    }
}

int32_t Sampler::sample(float* logits, int64_t n_vocab, std::span<const int32_t> history) {
    apply_penalties(logits, n_vocab, history);
    if (p_.temperature <= 0.0f) return argmax(logits, n_vocab);

    cand_.resize(size_t(n_vocab));
    for (int64_t i = 0; i < n_vocab; ++i) cand_[size_t(i)] = {logits[i], int32_t(i)};
    auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
    size_t n = cand_.size();
    if (p_.top_k > 0 && size_t(p_.top_k) < n) {
        std::partial_sort(cand_.begin(), cand_.begin() + p_.top_k, cand_.end(), by_logit);
        n = size_t(p_.top_k);
    } else {
        std::sort(cand_.begin(), cand_.end(), by_logit);
    }
    // Probabilities of the survivors at temperature 1, for top-p and min-p.
    std::vector<double> prob(n);
    const double mx = cand_[0].first;
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += prob[i] = std::exp(double(cand_[i].first) - mx);
    for (double& q : prob) q /= sum;
    if (p_.top_p < 1.0f) {
        double cum = 0;
        size_t keep = n;
        for (size_t i = 0; i < n; ++i) {
            cum += prob[i];
            if (cum >= p_.top_p) { keep = i + 1; break; }
        }
        n = keep;
    }
    if (p_.min_p > 0.0f) {
        size_t keep = 1;
        while (keep < n && prob[keep] >= p_.min_p * prob[0]) ++keep;
        n = keep;
    }
    // Temperature on the survivors, then draw.
    sum = 0;
    for (size_t i = 0; i < n; ++i) sum += prob[i] = std::exp((double(cand_[i].first) - mx) / p_.temperature);
    double u = uniform() * sum;
    for (size_t i = 0; i < n; ++i) {
        u -= prob[i];
        if (u < 0) return cand_[i].second;
    }
    return cand_[n - 1].second;
}

}  // namespace dsm
