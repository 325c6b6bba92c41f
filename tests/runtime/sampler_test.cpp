// Sampler properties that fail if a stage is wrong or missing.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "runtime/sampler.hpp"

namespace dsm {
namespace {

SamplerParams plain(float temp) {
    SamplerParams p;
    p.temperature = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

int32_t draw(SamplerParams p, std::vector<float> logits, std::vector<int32_t> history = {}) {
    Sampler s(p);
    return s.sample(logits.data(), int64_t(logits.size()), history);
}

TEST(Sampler, GreedyTakesTheLowestIdOnTies) {
    EXPECT_EQ(draw(plain(0), {0.1f, 2.0f, 2.0f, -1.0f}), 1);
}

TEST(Sampler, TemperatureOneFollowsSoftmax) {
    // 3 tokens with probabilities 0.09, 0.245, 0.665; 30000 draws stay within 1.5%.
    const std::vector<float> logits = {0.0f, 1.0f, 2.0f};
    Sampler s(plain(1.0f));
    int counts[3] = {};
    for (int i = 0; i < 30000; ++i) {
        std::vector<float> l = logits;
        ++counts[s.sample(l.data(), 3, {})];
    }
    const double z = 1 + std::exp(1.0) + std::exp(2.0);
    for (int t = 0; t < 3; ++t) EXPECT_NEAR(counts[t] / 30000.0, std::exp(double(t)) / z, 0.015) << t;
}

TEST(Sampler, LowTemperatureSharpensHighFlattens) {
    const std::vector<float> logits = {0.0f, 0.5f};
    auto share_of_best = [&](float temp) {
        Sampler s(plain(temp));
        int best = 0;
        for (int i = 0; i < 4000; ++i) {
            std::vector<float> l = logits;
            best += s.sample(l.data(), 2, {}) == 1;
        }
        return best / 4000.0;
    };
    EXPECT_GT(share_of_best(0.1f), 0.98);
    EXPECT_NEAR(share_of_best(100.0f), 0.5, 0.05);
}

TEST(Sampler, TopKTopPAndMinPTruncate) {
    const std::vector<float> logits = {3.0f, 2.9f, 0.0f, -1.0f};
    for (uint64_t seed = 0; seed < 200; ++seed) {
        SamplerParams k = plain(5.0f);
        k.top_k = 2;
        k.seed = seed;
        EXPECT_LT(draw(k, logits), 2);                // only the two best survive top-k
        SamplerParams p = plain(5.0f);
        p.top_p = 0.5f;                               // the best alone holds ~0.5: keeps 1-2
        p.seed = seed;
        EXPECT_LT(draw(p, logits), 2);
        SamplerParams m = plain(5.0f);
        m.min_p = 0.5f;                               // p(2)/p(0) = e^-3 < 0.5: cut
        m.seed = seed;
        EXPECT_LT(draw(m, logits), 2);
    }
    SamplerParams one = plain(1.0f);
    one.top_k = 1;
    EXPECT_EQ(draw(one, {0.0f, 5.0f, 4.9f}), 1);
}

TEST(Sampler, PenaltiesDemoteRepeatedTokens) {
    const std::vector<float> logits = {1.0f, 0.9f, -2.0f};
    SamplerParams rep = plain(0);
    rep.repeat_penalty = 1.5f;                        // 1.0 / 1.5 < 0.9
    EXPECT_EQ(draw(rep, logits, {0}), 1);
    EXPECT_EQ(draw(rep, logits, {}), 0);
    SamplerParams freq = plain(0);
    freq.frequency_penalty = 0.06f;                   // 1.0 - 2 * 0.06 < 0.9, 1 occurrence is not enough
    EXPECT_EQ(draw(freq, logits, {0}), 0);
    EXPECT_EQ(draw(freq, logits, {0, 0}), 1);
    SamplerParams pres = plain(0);
    pres.presence_penalty = 0.2f;                     // the same however often it occurred
    EXPECT_EQ(draw(pres, logits, {0}), 1);
    pres.penalty_last_n = 1;                          // the window excludes the old occurrence
    EXPECT_EQ(draw(pres, logits, {0, 2}), 0);
    // A negative logit is multiplied, not divided: the penalty never raises it.
    SamplerParams neg = plain(0);
    neg.repeat_penalty = 2.0f;
    EXPECT_EQ(draw(neg, {-1.0f, -1.5f}, {0}), 1);
}

}  // namespace
}  // namespace dsm
