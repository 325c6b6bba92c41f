// Multi-head latent attention (DeepSeek-V2/V3). Per token the cache keeps only the
// normalised latent c (kv_lora_rank values) and the rotary key k_pe (shared by all
// heads). Two equivalent ways to attend over it:
//   decompressed: k_nope, v = attn_kv_b · c for every cached token, then ordinary
//                 attention (what llama.cpp's reference does; cheaper for short prompts);
//   absorbed:     fold the key up-projection into the query, q_abs = K_bᵀ q_nope, score
//                 = q_abs·c + q_pe·k_pe, attend over latents, and apply the value
//                 up-projection after: o = V_b · Σ p c  (no per-head K/V ever exists).
#include <algorithm>
#include <cmath>

#include "kernels/kernels.hpp"
#include "kernels/matmul.hpp"
#include "quant/quant.hpp"
#include "models/transformer.hpp"
#include "runtime/kv_cache.hpp"

namespace dsm {
void Transformer::attention_mla(int64_t il, const float* h, int64_t n, int64_t pos0, KvCache& cache, Workspace& ws,
                                ThreadPool& pool, float* out, MlaMode mode) const {
    const LayerWeights& L = w_.layers[size_t(il)];
    const int64_t E = hp_.n_embd, H = hp_.n_head, dk = hp_.head_dim_k, dv = hp_.head_dim_v;
    const int64_t nope = hp_.qk_nope, R = hp_.qk_rope, r = hp_.kv_lora_rank, lw = r + R;
    const int64_t q_w = H * dk, n_kv = pos0 + n;

    // Queries: plain projection, or the low-rank path q_b(norm(q_a(x))).
    ws.q.resize(size_t(n * q_w));
    float* q = ws.q.data();
    if (!L.wq_a.empty()) {
        const int64_t ql = L.wq_a.rows;
        ws.ffn_a.resize(size_t(n * ql));
        project(L.wq_a, h, E, n, ws.ffn_a.data(), ql, ws, pool);
        for (int64_t t = 0; t < n; ++t)
            rms_norm(ws.ffn_a.data() + t * ql, L.q_a_norm.data(), ws.ffn_a.data() + t * ql, ql, hp_.rms_eps);
        project(L.wq_b, ws.ffn_a.data(), ql, n, q, q_w, ws, pool);
    } else {
        project(L.wq, h, E, n, q, q_w, ws, pool);
    }

    // Latent and rotary key of the new tokens go into the cache.
    ws.k.resize(size_t(n * lw));
    float* kva = ws.k.data();
    project(L.wkv_a_mqa, h, E, n, kva, lw, ws, pool);
    std::vector<float> cs(static_cast<size_t>(R));
    std::vector<uint8_t> rounding;
    for (int64_t t = 0; t < n; ++t) {
        float* row = kva + t * lw;
        rms_norm(row, L.kv_a_norm.data(), row, r, hp_.rms_eps);
        if (L.latent_rounding != DType::F32 && !ws.f32_activations) {
            rounding.resize(row_bytes(L.latent_rounding, r));
            kernels::active().from_float[uint32_t(L.latent_rounding)](row, rounding.data(), r);
            dequantize_row(L.latent_rounding, rounding.data(), row, r);
        }
        rope_.angles(pos0 + t, cs.data(), cs.data() + R / 2);
        rope_rotate(row + r, int(R), hp_.rope.pairing, cs.data(), cs.data() + R / 2);
        for (int64_t hh = 0; hh < H; ++hh)
            rope_rotate(q + t * q_w + hh * dk + nope, int(R), hp_.rope.pairing, cs.data(), cs.data() + R / 2);
        cache.write(il, pos0 + t, 0, row, lw);
    }

    ws.attn.resize(size_t(n * H * dv));
    float* attn = ws.attn.data();
    const kernels::KernelTable& kt = kernels::active();
    // Auto: the decompressed form costs a kv_b product per cached token and then 10 kFLOP
    // per (token, cached token) pair, the absorbed form per-head query products per new
    // token and 35 kFLOP per pair on a faster kernel; measured on V2-Lite
    // (dsm bench -p 1024, both forms), they break even near 700 attended tokens.
    const bool long_attention = pos0 + (n + 1) / 2 >= 700;
    const bool absorbed = hp_.mla_split_kv_b || mode == MlaMode::Absorbed ||
                          (mode == MlaMode::Auto && (n == 1 || long_attention));

    if (absorbed) {
        // Per head the query becomes [K_bᵀ q_nope | q_pe], as wide as a cache row, so one
        // dot product with the row [c | k_pe] gives the score. All heads share the rows
        // (multi-query), so a task takes a block of heads: decode still has
        // 2 x threads tasks, and the cache is read once per block.
        ws.v.resize(size_t(n * H * lw + n * H * r));
        float* q_cat = ws.v.data();
        float* o_lat = q_cat + n * H * lw;
        project_each(H, n, [&](int64_t hh) {
            return Product{L.wk_b.matrix(hh), q + hh * dk, q_w, q_cat + hh * lw, H * lw};
        }, ws, pool);
        for (int64_t t = 0; t < n; ++t)
            for (int64_t hh = 0; hh < H; ++hh)
                std::copy_n(q + t * q_w + hh * dk + nope, R, q_cat + (t * H + hh) * lw + r);
        // A task attends one token over a range of cache rows with all heads at once (they
        // share every row). Decode splits the rows so that each thread has a share; the
        // partial softmaxes then merge by their normalisers.
        const int64_t chunks = n == 1 ? std::clamp<int64_t>(n_kv / 64, 1, 2 * int64_t(pool.size())) : 1;
        ws.latent.resize(size_t(chunks * H * r + n * chunks * H));
        float* parts = ws.latent.data();
        float* lse = parts + chunks * H * r;
        const int f16 = cache.type() == KvCacheType::F32 ? 0 : 1;
        const size_t row_stride = size_t(cache.width()) * cache.elem_bytes();  // the one latent stream
        const auto* rows = static_cast<const uint8_t*>(cache.stream(il, 0));
        pool.parallel_for(n * chunks, [&](int64_t task, int) {
            const int64_t t = task / chunks, c = task % chunks, len = pos0 + t + 1;
            const int64_t j0 = len * c / chunks, j1 = len * (c + 1) / chunks;
            float* o = chunks == 1 ? o_lat + t * H * r : parts + c * H * r;
            kernels::attn_mqa(kt, f16, lw, r, H, q_cat + t * H * lw, lw, hp_.kq_scale, j1 - j0,
                              rows + size_t(j0) * row_stride, row_stride, o, r, lse + task * H);
        });
        if (chunks > 1) merge_attention_parts(parts, lse, chunks, H, r, o_lat, r);
        project_each(H, n, [&](int64_t hh) {
            return Product{L.wv_b.matrix(hh), o_lat + hh * r, H * r, attn + hh * dv, H * dv};
        }, ws, pool);
    } else {
        // Every cached latent as floats, decompressed to per-head keys and values.
        ws.latent.resize(size_t(n_kv * lw));
        float* lat = ws.latent.data();
        cache.read(il, 0, n_kv, 0, lw, lat);
        const int64_t kv_w = H * (nope + dv);
        ws.v.resize(size_t(n_kv * kv_w));
        float* kv = ws.v.data();
        project(L.wkv_b, lat, lw, n_kv, kv, kv_w, ws, pool);
        ws.per_thread.resize(size_t(pool.size()));
        for (auto& sc : ws.per_thread) sc.resize(size_t(2 * n_kv));
        pool.parallel_for(n * H, [&](int64_t task, int thread) {
            const int64_t t = task / H, hh = task % H, len = pos0 + t + 1;
            const float* qn = q + t * q_w + hh * dk;
            float* scores = ws.per_thread[size_t(thread)].data();
            float* rope_scores = scores + len;
            kt.attn_scores[0](nope, 1, qn, nope, len, kv + hh * (nope + dv), size_t(kv_w) * 4, scores, len);
            kt.attn_scores[0](R, 1, qn + nope, R, len, lat + r, size_t(lw) * 4, rope_scores, len);
            for (int64_t j = 0; j < len; ++j) scores[j] += rope_scores[j];
            softmax(scores, len, hp_.kq_scale);
            kt.attn_values[0](dv, 1, scores, len, len, kv + hh * (nope + dv) + nope, size_t(kv_w) * 4,
                              attn + t * H * dv + hh * dv, dv);
        });
    }
    project(L.wo, attn, H * dv, n, out, E, ws, pool);
}

}  // namespace dsm
