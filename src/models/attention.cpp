// Grouped-query attention over the KV cache (llama, qwen2, deepseek v1).
#include <algorithm>
#include <cmath>

#include "kernels/kernels.hpp"
#include "kernels/matmul.hpp"
#include "models/transformer.hpp"
#include "runtime/kv_cache.hpp"

namespace dsm {
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

    // A task attends with one KV head's group of query heads (they share each cache row)
    // over a range of rows. Decode splits the rows into L2-sized chunks, so that the
    // score and value passes re-read cached rows, not memory, and every thread has a
    // share; the chunks' partial softmaxes then merge by their normalisers. Prompts
    // give a task a block of consecutive tokens, so that up to 6 query rows share each
    // pass over the rows (a whole block for multi-head attention, where a group is one
    // head): scores go up to the last token's position, each token's softmax covers its
    // own rows, the values pass the rows all of them attend, and each later token adds
    // its few own rows (never a row past its position: 0 x inf would be NaN).
    const int64_t group = H / Hkv, n_kv_max = pos0 + n;
    const int64_t chunks = n == 1 ? std::clamp<int64_t>(n_kv_max / 256, 1, 16) : 1;
    constexpr int64_t kRowsPerPass = 6;  // query rows the widest (AVX-512) tiles take at once
    const int64_t block = std::clamp<int64_t>(kRowsPerPass / group, 1, n), n_blocks = (n + block - 1) / block;
    const int64_t rows_q = block * group;  // query rows of a task
    ws.per_thread.resize(size_t(pool.size()));
    for (auto& s : ws.per_thread) s.resize(size_t(rows_q * (n_kv_max + dk + dv) + group * dv));
    ws.latent.resize(size_t(chunks > 1 ? Hkv * chunks * group * (dv + 1) : 0));
    float* parts = ws.latent.data();
    float* part_lse = parts + Hkv * chunks * group * dv;
    float* attn = ws.attn.data();
    const kernels::KernelTable& kt = kernels::active();
    const int f16 = cache.type() == KvCacheType::F32 ? 0 : 1;
    const size_t elem = cache.elem_bytes(), k_stride = size_t(dk) * elem, v_stride = size_t(dv) * elem;
    pool.parallel_for(n_blocks * Hkv * chunks, [&](int64_t task, int thread) {
        const int64_t b = task / (Hkv * chunks), kvh = task / chunks % Hkv, c = task % chunks;
        const int64_t t0 = b * block, nt = std::min(block, n - t0), nq = nt * group, len = pos0 + t0 + nt;
        const int64_t j0 = len * c / chunks, n_rows = len * (c + 1) / chunks - j0;
        const auto* keys = static_cast<const uint8_t*>(cache.stream(il, kvh)) + size_t(j0) * k_stride;
        const auto* values = static_cast<const uint8_t*>(cache.stream(il, Hkv + kvh)) + size_t(j0) * v_stride;
        float* scores = ws.per_thread[size_t(thread)].data();
        float* qb = scores + rows_q * n_kv_max;  // the block's query rows, token by token
        float* ob = qb + rows_q * dk;
        for (int64_t tt = 0; tt < nt; ++tt)
            std::copy_n(q + (t0 + tt) * q_w + kvh * group * dk, group * dk, qb + tt * group * dk);
        kt.attn_scores[f16](dk, nq, qb, dk, n_rows, keys, k_stride, scores, n_rows);
        const int64_t shared = n_rows - (nt - 1);  // rows every token of the block attends
        for (int64_t row = 0; row < nq; ++row) {
            const float lse = softmax(scores + row * n_rows, shared + row / group, hp_.kq_scale);
            if (chunks > 1) part_lse[(kvh * chunks + c) * group + row] = lse;
        }
        const bool direct = chunks > 1 || nt == 1;  // output rows evenly spaced: write in place
        float* o = chunks > 1 ? parts + (kvh * chunks + c) * group * dv : direct ? attn + t0 * H * dv + kvh * group * dv : ob;
        kt.attn_values[f16](dv, nq, scores, n_rows, shared, values, v_stride, o, dv);
        float* own = ob + rows_q * dv;  // a later token's own rows' share
        for (int64_t tt = 1; tt < nt; ++tt) {
            kt.attn_values[f16](dv, group, scores + tt * group * n_rows + shared, n_rows, tt,
                                values + size_t(shared) * v_stride, v_stride, own, dv);
            float* ot = ob + tt * group * dv;
            for (int64_t i = 0; i < group * dv; ++i) ot[i] += own[i];
        }
        for (int64_t tt = 0; !direct && tt < nt; ++tt)
            std::copy_n(ob + tt * group * dv, group * dv, attn + (t0 + tt) * H * dv + kvh * group * dv);
    });
    for (int64_t kvh = 0; chunks > 1 && kvh < Hkv; ++kvh)
        merge_attention_parts(parts + kvh * chunks * group * dv, part_lse + kvh * chunks * group, chunks, group, dv,
                              attn + kvh * group * dv, dv);
    project(L.wo, attn, H * dv, n, out, E, ws, pool);
}

}  // namespace dsm
