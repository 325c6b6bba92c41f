// Mixture-of-experts feed-forward (DeepSeek-MoE, DeepSeek-V2/V3).
//   scores  = softmax(router · x)  or  sigmoid(router · x)        (V3: sigmoid)
//   choose  = top-k of scores + exp_probs_b                       (bias only chooses)
//             V3 group-limited: keep the best groups (sum of each group's top 2) first
//   weights = scores[chosen] (/ their sum if expert_weights_norm) * expert_weights_scale
//   out     = Σ weights_k · expert_k(x)  +  shared_experts(x)
// Tokens are grouped by expert so each expert runs one matrix product per batch.
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/matmul.hpp"
#include "models/transformer.hpp"

namespace dsm {

void Transformer::route(const LayerWeights& L, const float* logits, int32_t* chosen, float* weights) const {
    const int64_t X = hp_.n_expert, K = hp_.n_expert_used;
    std::vector<float> probs(logits, logits + X);
    if (hp_.gating == Gating::Sigmoid) {
        for (float& p : probs) p = 1.0f / (1.0f + std::exp(-p));
    } else {
        softmax(probs.data(), X, 1.0f);
    }
    std::vector<float> sel = probs;
    if (!L.exp_probs_b.empty())
        for (int64_t e = 0; e < X; ++e) sel[size_t(e)] += L.exp_probs_b[size_t(e)];

    if (hp_.n_expert_group > 1 && hp_.n_expert_group_used < hp_.n_expert_group) {
        // Group score = sum of the group's two best selection scores; experts outside
        // the best groups cannot be chosen.
        const int64_t G = hp_.n_expert_group, m = X / G;
        std::vector<float> gscore(static_cast<size_t>(G));
        for (int64_t g = 0; g < G; ++g) {
            std::vector<float> s(sel.begin() + g * m, sel.begin() + (g + 1) * m);
            std::partial_sort(s.begin(), s.begin() + std::min<int64_t>(2, m), s.end(), std::greater<float>());
            gscore[size_t(g)] = s[0] + (m > 1 ? s[1] : 0.0f);
        }
        std::vector<int64_t> gidx(static_cast<size_t>(G));
        std::iota(gidx.begin(), gidx.end(), 0);
        std::stable_sort(gidx.begin(), gidx.end(), [&](int64_t a, int64_t b) { return gscore[size_t(a)] > gscore[size_t(b)]; });
        for (int64_t i = hp_.n_expert_group_used; i < G; ++i)
            for (int64_t e = gidx[size_t(i)] * m; e < (gidx[size_t(i)] + 1) * m; ++e) sel[size_t(e)] = -INFINITY;
    }

    std::vector<int32_t> idx(static_cast<size_t>(X));
    std::iota(idx.begin(), idx.end(), 0);
    std::partial_sort(idx.begin(), idx.begin() + K, idx.end(), [&](int32_t a, int32_t b) {
        return sel[size_t(a)] > sel[size_t(b)] || (sel[size_t(a)] == sel[size_t(b)] && a < b);
    });
    float sum = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
        chosen[k] = idx[size_t(k)];
        weights[k] = probs[size_t(idx[size_t(k)])];
        sum += weights[k];
    }
    for (int64_t k = 0; k < K; ++k) {
        if (hp_.expert_weights_norm) weights[k] /= sum;
        weights[k] *= hp_.expert_weights_scale;
    }
}

void Transformer::moe(int64_t il, const float* h, int64_t n, float* out, Workspace& ws, ThreadPool& pool) const {
    const LayerWeights& L = w_.layers[size_t(il)];
    const int64_t E = hp_.n_embd, X = hp_.n_expert, K = hp_.n_expert_used;

    ws.router.resize(size_t(n * X));
    project(L.ffn_gate_inp, h, E, n, ws.router.data(), X, ws, pool);
    std::vector<int32_t> chosen(static_cast<size_t>(n * K));
    std::vector<float> weights(static_cast<size_t>(n * K));
    for (int64_t t = 0; t < n; ++t) route(L, ws.router.data() + t * X, chosen.data() + t * K, weights.data() + t * K);

    // Each expert's output for each (token, slot), summed afterwards in slot order.
    std::vector<float> expert_out(static_cast<size_t>(n * K * E));
    std::vector<float> xin, yout;
    std::vector<int64_t> slots;
    const bool expert_tasks = n == 1 && !ws.observer && !ws.f32_activations && pool.size() > 1;
    if (expert_tasks) {
        // Decode: each chosen expert's whole SwiGLU is one task on one thread, so the
        // small products cost one dispatch instead of three per expert.
        const int64_t F = L.gate_exps.rows;
        ws.task_act.resize(size_t(pool.size()));
        ws.task_ffn.resize(size_t(pool.size()));
        pool.parallel_for(K, [&](int64_t k, int thread) {
            const int64_t e = chosen[size_t(k)];
            std::vector<float>& a = ws.task_ffn[size_t(thread)];
            std::vector<uint8_t>& act = ws.task_act[size_t(thread)];
            a.resize(size_t(2 * F));
            ThreadPool& one = ThreadPool::serial();
            kernels::matmul(L.gate_exps.matrix(e), h, E, 1, a.data(), F, one, act);
            kernels::matmul(L.up_exps.matrix(e), h, E, 1, a.data() + F, F, one, act);
            swiglu(a.data(), a.data() + F, F);
            float* dst = expert_out.data() + k * E;
            kernels::matmul(L.down_exps.matrix(e), a.data(), F, 1, dst, E, one, act);
            for (int64_t j = 0; j < E; ++j) dst[j] *= weights[size_t(k)];
        });
    } else {
        for (int64_t e = 0; e < X; ++e) {
            slots.clear();
            for (int64_t s = 0; s < n * K; ++s)
                if (chosen[size_t(s)] == e) slots.push_back(s);
            if (slots.empty()) continue;
            const int64_t m = int64_t(slots.size());
            xin.resize(size_t(m * E));
            yout.resize(size_t(m * E));
            for (int64_t i = 0; i < m; ++i) std::copy_n(h + (slots[size_t(i)] / K) * E, E, xin.data() + i * E);
            feed_forward(L.gate_exps.matrix(e), L.up_exps.matrix(e), L.down_exps.matrix(e), xin.data(), m, yout.data(), ws,
                         pool);
            for (int64_t i = 0; i < m; ++i) {
                const int64_t s = slots[size_t(i)];
                const float w = weights[size_t(s)];
                float* dst = expert_out.data() + s * E;
                for (int64_t j = 0; j < E; ++j) dst[j] = yout[size_t(i * E + j)] * w;
            }
        }
    }
    for (int64_t t = 0; t < n; ++t) {
        float* o = out + t * E;
        std::copy_n(expert_out.data() + t * K * E, E, o);
        for (int64_t k = 1; k < K; ++k) {
            const float* src = expert_out.data() + (t * K + k) * E;
            for (int64_t j = 0; j < E; ++j) o[j] += src[j];
        }
    }
    if (!L.gate_shexp.empty()) {
        std::vector<float> shared(static_cast<size_t>(n * E));
        feed_forward(L.gate_shexp, L.up_shexp, L.down_shexp, h, n, shared.data(), ws, pool);
        for (int64_t i = 0; i < n * E; ++i) out[i] += shared[size_t(i)];
    }
}

}  // namespace dsm
