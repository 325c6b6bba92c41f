#include "quantize/kld.hpp"

#include <algorithm>
#include <cmath>

#include "core/error.hpp"

namespace dsm::quantize {
namespace {

// One scored row of the base model, as llama-perplexity's base file holds it.
struct BaseRow {
    float scale = 0, min_log_prob = 0;
    std::vector<uint16_t> q;
    float log_prob(size_t i) const { return scale * float(q[i]) + min_log_prob; }
};

// Round half to even, as llama.cpp's nearest_int (values here are in [0, 65535]).
int nearest_int(float v) { return int(std::nearbyint(v)); }

void encode_base(const float* logits, int64_t n_vocab, BaseRow& row) {
    float max_logit = logits[0], min_logit = logits[0];
    for (int64_t i = 1; i < n_vocab; ++i) {
        max_logit = std::max(max_logit, logits[i]);
        min_logit = std::min(min_logit, logits[i]);
    }
    min_logit = std::max(min_logit, max_logit - 16);
    double sum_exp = 0;
    for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
    const float log_sum_exp = float(std::log(sum_exp));
    row.min_log_prob = min_logit - max_logit - log_sum_exp;
    row.scale = (max_logit - min_logit) / 65535.f;
    row.q.assign(size_t(n_vocab), 0);
    if (row.scale != 0) {
        const float inv_scale = 1 / row.scale;
        for (int64_t i = 0; i < n_vocab; ++i)
            if (logits[i] > min_logit) row.q[size_t(i)] = uint16_t(nearest_int(inv_scale * (logits[i] - min_logit)));
    }
}

struct Sums {
    double nll = 0, nll2 = 0, nll_base = 0, nll_base2 = 0, kld = 0, kld2 = 0, dp2 = 0;
    int64_t same_top = 0, count = 0;
};

// Scores one row of the model against the base row; returns the row's KL divergence.
double score_row(const float* logits, int64_t n_vocab, const BaseRow& base, int32_t tok, Sums& s) {
    float max_logit = logits[0];
    int64_t imax = 0;
    for (int64_t i = 1; i < n_vocab; ++i)
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            imax = i;
        }
    double sum_exp = 0;
    for (int64_t i = 0; i < n_vocab; ++i) sum_exp += std::exp(logits[i] - max_logit);
    const float log_sum_exp = float(std::log(sum_exp));
    const float nll = max_logit + log_sum_exp - logits[tok];
    const float nll_base = -base.log_prob(size_t(tok));
    s.nll += nll;
    s.nll2 += double(nll) * nll;
    s.nll_base += nll_base;
    s.nll_base2 += double(nll_base) * nll_base;

    const float log_norm = max_logit + log_sum_exp;
    double kld = 0;
    int64_t imax_base = 0;
    float lp_max = 0;
    for (int64_t i = 0; i < n_vocab; ++i) {
        const float lp = base.log_prob(size_t(i));
        if (i == 0 || lp > lp_max) {
            lp_max = lp;
            imax_base = i;
        }
        if (lp > -16.f) kld += std::exp(lp) * (lp - logits[i] + log_norm);
    }
    s.kld += kld;
    s.kld2 += kld * kld;
    s.same_top += imax == imax_base;
    ++s.count;
    const double dp = double(std::exp(-nll)) - double(std::exp(-nll_base));
    s.dp2 += dp * dp;
    return kld;
}

// Mean and llama.cpp's uncertainty of the mean.
std::pair<double, double> mean_err(double sum, double sum2, int64_t n) {
    if (n < 1) return {0, 0};
    const double f = sum / double(n);
    double df = sum2 / double(n) - f * f;
    df = df > 0 && n > 10 ? std::sqrt(df / double(n - 1)) : 0;
    return {f, df};
}

}  // namespace

double kld_percentile(const std::vector<float>& v, double fraction) {
    if (v.empty()) return 0;
    if (fraction <= 0) return v.front();
    if (fraction >= 1) return v.back();
    float p = float(fraction) * float(v.size() - 1);
    const size_t ip = size_t(p);
    p -= float(ip);
    return (1 - p) * v[ip] + p * v[std::min(ip + 1, v.size() - 1)];
}

KldResult compute_kld(const Model& base, const Model& model, const std::string& text, const KldOptions& opt) {
    return compute_kld(base, std::vector<const Model*>{&model}, text, opt).front();
}

std::vector<KldResult> compute_kld(const Model& base, const std::vector<const Model*>& models, const std::string& text,
                                   const KldOptions& opt) {
    const int64_t n_vocab = base.info().n_vocab;
    for (const Model* m : models)
        if (m->info().n_vocab != n_vocab)
            throw Error("kld: the models have different vocabularies (" + std::to_string(n_vocab) + " and " +
                        std::to_string(m->info().n_vocab) + " tokens)");
    if (opt.n_ctx < 4) throw Error("kld: context " + std::to_string(opt.n_ctx) + " is too small");
    const std::vector<int32_t> tokens = base.tokenize(text, true, false);
    const int n_avail = int(tokens.size() / size_t(opt.n_ctx));
    if (n_avail < 1)
        throw Error("kld: the text gives " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                    std::to_string(opt.n_ctx));
    const int n_chunks = opt.n_chunks < 0 ? n_avail : std::min(opt.n_chunks, n_avail);
    // BOS, if the tokenizer adds one: it replaces each chunk's first token.
    const std::vector<int32_t> prefix = base.tokenize("", true, false);
    const int32_t bos = prefix.empty() ? -1 : prefix.front();

    ContextParams cp;
    cp.n_ctx = opt.n_ctx;
    cp.n_threads = opt.n_threads;
    cp.n_batch = opt.n_ctx;
    cp.kv_type = KvCacheType::F32;
    auto base_ctx = base.create_context(cp);
    std::vector<std::unique_ptr<Context>> ctxs;
    for (const Model* m : models) ctxs.push_back(m->create_context(cp));

    const int first = opt.n_ctx / 2;
    const int n_scored = opt.n_ctx - 1 - first;
    std::vector<BaseRow> rows(static_cast<size_t>(n_scored));
    std::vector<int32_t> ids(size_t(opt.n_ctx));
    std::vector<Sums> sums(models.size());
    std::vector<KldResult> results(models.size());
    for (int c = 0; c < n_chunks; ++c) {
        std::copy_n(tokens.begin() + ptrdiff_t(c) * opt.n_ctx, opt.n_ctx, ids.begin());
        if (bos >= 0) ids[0] = bos;
        const Tensor input = Tensor::tokens(ids);
        base_ctx->clear();
        base_ctx->set_input("input_ids", input);
        base_ctx->invoke();
        const float* bl = base_ctx->get_output("logits").f32();
        for (int j = 0; j < n_scored; ++j) encode_base(bl + int64_t(first + j) * n_vocab, n_vocab, rows[size_t(j)]);

        for (size_t k = 0; k < models.size(); ++k) {
            ctxs[k]->clear();
            ctxs[k]->set_input("input_ids", input);
            ctxs[k]->invoke();
            const float* ml = ctxs[k]->get_output("logits").f32();
            // The scored token is the original text token (position 0 is never scored).
            for (int j = 0; j < n_scored; ++j) {
                const int32_t next = tokens[size_t(c) * size_t(opt.n_ctx) + size_t(first + j + 1)];
                const double kld =
                    score_row(ml + int64_t(first + j) * n_vocab, n_vocab, rows[size_t(j)], next, sums[k]);
                results[k].kld_per_token.push_back(float(kld));
            }
        }
        if (opt.progress) opt.progress(c + 1, n_chunks);
    }

    for (size_t k = 0; k < models.size(); ++k) {
        const Sums& s = sums[k];
        KldResult& r = results[k];
        r.n_chunks = n_chunks;
        r.n_tokens = s.count;
        const auto lp = mean_err(s.nll, s.nll2, s.count);
        const auto lpb = mean_err(s.nll_base, s.nll_base2, s.count);
        r.ppl_model = std::exp(lp.first);
        r.ppl_base = std::exp(lpb.first);
        r.ln_ppl_ratio = lp.first - lpb.first;
        const auto kl = mean_err(s.kld, s.kld2, s.count);
        r.mean_kld = kl.first;
        r.mean_kld_err = kl.second;
        r.same_top = double(s.same_top) / double(s.count);
        r.same_top_err = s.count > 1 ? std::sqrt(r.same_top * (1 - r.same_top) / double(s.count - 1)) : 0;
        r.rms_dp = std::sqrt(s.dp2 / double(s.count));
        std::vector<float> sorted = r.kld_per_token;
        std::sort(sorted.begin(), sorted.end());
        const size_t n = sorted.size();
        r.median_kld = n % 2 == 0 ? 0.5f * (sorted[n / 2] + sorted[n / 2 - 1]) : sorted[n / 2];
        r.p99_kld = kld_percentile(sorted, 0.99);
        r.p999_kld = kld_percentile(sorted, 0.999);
        r.max_kld = sorted.back();
    }
    return results;
}

}  // namespace dsm::quantize
