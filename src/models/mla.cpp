// Multi-head latent attention (DeepSeek-V2/V3). Per token the cache keeps only the
// normalised latent c (kv_lora_rank values) and the rotary key k_pe (shared by all
// heads). Two equivalent ways to attend over it:
//   decompressed: k_nope, v = attn_kv_b · c for every cached token, then ordinary
//                 attention (what llama.cpp's reference does; cheaper for long prompts);
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
namespace {

float dot(const float* a, const float* b, int64_t n) {
    float s = 0.0f;
    for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
    return s;
}

}  // namespace

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

    // Every cached latent, as floats.
    ws.latent.resize(size_t(n_kv * lw));
    float* lat = ws.latent.data();
    cache.read(il, 0, n_kv, 0, lw, lat);

    ws.per_thread.resize(size_t(pool.size()));
    for (auto& s : ws.per_thread) s.resize(size_t(n_kv));
    ws.attn.resize(size_t(n * H * dv));
    float* attn = ws.attn.data();
    const bool absorbed = hp_.mla_split_kv_b || mode == MlaMode::Absorbed || (mode == MlaMode::Auto && n == 1);

    if (absorbed) {
        ws.v.resize(size_t(n * H * r) * 2);
        float* q_abs = ws.v.data();
        float* o_lat = q_abs + n * H * r;
        for (int64_t hh = 0; hh < H; ++hh)
            project(L.wk_b.matrix(hh), q + hh * dk, q_w, n, q_abs + hh * r, H * r, ws, pool);
        pool.parallel_for(n * H, [&](int64_t task, int thread) {
            const int64_t t = task / H, hh = task % H, len = pos0 + t + 1;
            const float* qa = q_abs + (t * H + hh) * r;
            const float* qp = q + t * q_w + hh * dk + nope;
            float* scores = ws.per_thread[size_t(thread)].data();
            for (int64_t j = 0; j < len; ++j) scores[j] = dot(qa, lat + j * lw, r) + dot(qp, lat + j * lw + r, R);
            softmax(scores, len, hp_.kq_scale);
            float* o = o_lat + (t * H + hh) * r;
            std::fill(o, o + r, 0.0f);
            for (int64_t j = 0; j < len; ++j) {
                const float p = scores[j];
                const float* c = lat + j * lw;
                for (int64_t i = 0; i < r; ++i) o[i] += p * c[i];
            }
        });
        for (int64_t hh = 0; hh < H; ++hh)
            project(L.wv_b.matrix(hh), o_lat + hh * r, H * r, n, attn + hh * dv, H * dv, ws, pool);
    } else {
        const int64_t kv_w = H * (nope + dv);
        ws.v.resize(size_t(n_kv * kv_w));
        float* kv = ws.v.data();
        project(L.wkv_b, lat, lw, n_kv, kv, kv_w, ws, pool);
        pool.parallel_for(n * H, [&](int64_t task, int thread) {
            const int64_t t = task / H, hh = task % H, len = pos0 + t + 1;
            const float* qn = q + t * q_w + hh * dk;
            float* scores = ws.per_thread[size_t(thread)].data();
            for (int64_t j = 0; j < len; ++j)
                scores[j] = dot(qn, kv + j * kv_w + hh * (nope + dv), nope) + dot(qn + nope, lat + j * lw + r, R);
            softmax(scores, len, hp_.kq_scale);
            float* o = attn + t * H * dv + hh * dv;
            std::fill(o, o + dv, 0.0f);
            for (int64_t j = 0; j < len; ++j) {
                const float p = scores[j];
                const float* v = kv + j * kv_w + hh * (nope + dv) + nope;
                for (int64_t i = 0; i < dv; ++i) o[i] += p * v[i];
            }
        });
    }
    project(L.wo, attn, H * dv, n, out, E, ws, pool);
}

}  // namespace dsm
