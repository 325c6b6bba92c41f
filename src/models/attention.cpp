// Grouped-query attention over the KV cache (llama, qwen2, deepseek v1).
#include <algorithm>
#include <cmath>

#include "core/fp16.hpp"
#include "kernels/matmul.hpp"
#include "models/transformer.hpp"
#include "runtime/kv_cache.hpp"

namespace dsm {
namespace {

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const uint16_t* p, int64_t i) { return fp16_to_f32(p[i]); }

// One query head against positions [0, n_kv) of one KV head: softmax(q·K * scale) · V.
template <typename T>
void attend(const float* q, const KvCache& cache, int64_t il, int64_t n_kv, int64_t k_col, int64_t v_col,
            int64_t dk, int64_t dv, float scale, float* scores, float* out) {
    for (int64_t j = 0; j < n_kv; ++j) {
        const T* k = static_cast<const T*>(cache.row(il, j)) + k_col;
        float s = 0.0f;
        for (int64_t i = 0; i < dk; ++i) s += q[i] * load(k, i);
        scores[j] = s;
    }
    softmax(scores, n_kv, scale);
    std::fill(out, out + dv, 0.0f);
    for (int64_t j = 0; j < n_kv; ++j) {
        const T* v = static_cast<const T*>(cache.row(il, j)) + v_col;
        const float p = scores[j];
        for (int64_t i = 0; i < dv; ++i) out[i] += p * load(v, i);
    }
}

}  // namespace

void Transformer::attention_gqa(int64_t il, const float* h, int64_t n, int64_t pos0, KvCache& cache, Workspace& ws,
                                ThreadPool& pool, float* out) const {
    const LayerWeights& L = w_.layers[size_t(il)];
    const int64_t E = hp_.n_embd, H = hp_.n_head, Hkv = hp_.n_head_kv, dk = hp_.head_dim_k, dv = hp_.head_dim_v;
    const int64_t q_w = H * dk, k_w = Hkv * dk, v_w = Hkv * dv;
    ws.q.resize(size_t(n * q_w));
    ws.k.resize(size_t(n * k_w));
    ws.v.resize(size_t(n * v_w));
    ws.attn.resize(size_t(n * H * dv));
    float *q = ws.q.data(), *k = ws.k.data(), *v = ws.v.data();

    project(L.wq, h, E, n, q, q_w, ws, pool);
    project(L.wk, h, E, n, k, k_w, ws, pool);
    project(L.wv, h, E, n, v, v_w, ws, pool);
    auto add_bias = [n](float* y, const std::vector<float>& b) {
        if (b.empty()) return;
        const int64_t w = int64_t(b.size());
        for (int64_t t = 0; t < n; ++t)
            for (int64_t i = 0; i < w; ++i) y[t * w + i] += b[size_t(i)];
    };
    add_bias(q, L.bq);
    add_bias(k, L.bk);
    add_bias(v, L.bv);

    std::vector<float> cs(static_cast<size_t>(rope_.n_pairs() * 2));
    for (int64_t t = 0; t < n; ++t) {
        rope_.angles(pos0 + t, cs.data(), cs.data() + rope_.n_pairs());
        const float *c = cs.data(), *s = cs.data() + rope_.n_pairs();
        for (int64_t hh = 0; hh < H; ++hh) rope_rotate(q + t * q_w + hh * dk, hp_.rope.n_rot, hp_.rope.pairing, c, s);
        for (int64_t hh = 0; hh < Hkv; ++hh) rope_rotate(k + t * k_w + hh * dk, hp_.rope.n_rot, hp_.rope.pairing, c, s);
        cache.write(il, pos0 + t, 0, k + t * k_w, k_w);
        cache.write(il, pos0 + t, k_w, v + t * v_w, v_w);
    }

    const int64_t group = H / Hkv;
    ws.per_thread.resize(size_t(pool.size()));
    for (auto& s : ws.per_thread) s.resize(size_t(pos0 + n));
    float* attn = ws.attn.data();
    pool.parallel_for(n * H, [&](int64_t task, int thread) {
        const int64_t t = task / H, hh = task % H, kvh = hh / group;
        const float* qh = q + t * q_w + hh * dk;
        float* o = attn + t * H * dv + hh * dv;
        float* scores = ws.per_thread[size_t(thread)].data();
        if (cache.type() == KvCacheType::F32)
            attend<float>(qh, cache, il, pos0 + t + 1, kvh * dk, k_w + kvh * dv, dk, dv, hp_.kq_scale, scores, o);
        else
            attend<uint16_t>(qh, cache, il, pos0 + t + 1, kvh * dk, k_w + kvh * dv, dk, dv, hp_.kq_scale, scores, o);
    });
    project(L.wo, attn, H * dv, n, out, E, ws, pool);
}

}  // namespace dsm
