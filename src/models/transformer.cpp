#include "models/transformer.hpp"

#include <algorithm>

#include "core/error.hpp"
#include "kernels/matmul.hpp"
#include "quant/quant.hpp"
#include "runtime/kv_cache.hpp"

namespace dsm {

void project(const Weight& w, const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride, Workspace& ws,
             ThreadPool& pool) {
    if (ws.observer) ws.observer(w, x, x_stride, n);
    kernels::matmul(w, x, x_stride, n, y, y_stride, pool, ws.act, ws.f32_activations);
}

void project_each(int64_t count, int64_t n, const std::function<Product(int64_t)>& product, Workspace& ws,
                  ThreadPool& pool) {
    if (ws.observer || ws.f32_activations || pool.size() == 1) {
        for (int64_t i = 0; i < count; ++i) {
            const Product p = product(i);
            project(p.w, p.x, p.x_stride, n, p.y, p.y_stride, ws, pool);
        }
        return;
    }
    ws.task_act.resize(size_t(pool.size()));
    pool.parallel_for(count, [&](int64_t i, int thread) {
        const Product p = product(i);
        kernels::matmul(p.w, p.x, p.x_stride, n, p.y, p.y_stride, ThreadPool::serial(), ws.task_act[size_t(thread)]);
    });
}

Transformer::Transformer(HParams hp, ModelWeights w) : hp_(std::move(hp)), w_(std::move(w)), rope_(hp_.rope) {}

void Transformer::feed_forward(const Weight& gate, const Weight& up, const Weight& down, const float* h, int64_t n,
                               float* out, Workspace& ws, ThreadPool& pool) const {
    const int64_t E = hp_.n_embd, F = gate.rows;
    ws.ffn_a.resize(size_t(n * F));
    ws.ffn_b.resize(size_t(n * F));
    project(gate, h, E, n, ws.ffn_a.data(), F, ws, pool);
    project(up, h, E, n, ws.ffn_b.data(), F, ws, pool);
    pool.parallel_for(n, [&](int64_t t, int) { swiglu(ws.ffn_a.data() + t * F, ws.ffn_b.data() + t * F, F); });
    project(down, ws.ffn_a.data(), F, n, out, E, ws, pool);
}

void Transformer::forward(const int32_t* tokens, int64_t n, int64_t pos0, KvCache& cache, Workspace& ws,
                          ThreadPool& pool, float* logits, float* last_logits, MlaMode mla_mode) const {
    const int64_t E = hp_.n_embd;
    ws.x.resize(size_t(n * E));
    ws.h.resize(size_t(n * E));
    ws.tmp.resize(size_t(n * E));
    float* x = ws.x.data();
    float* h = ws.h.data();
    float* tmp = ws.tmp.data();

    for (int64_t t = 0; t < n; ++t) dequantize_row(w_.token_embd.type, w_.token_embd.row(tokens[t]), x + t * E, E);

    for (int64_t il = 0; il < hp_.n_layer; ++il) {
        const LayerWeights& L = w_.layers[size_t(il)];
        for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.attn_norm.data(), h + t * E, E, hp_.rms_eps);
        if (hp_.is_mla())
            attention_mla(il, h, n, pos0, cache, ws, pool, tmp, mla_mode);
        else
            attention_gqa(il, h, n, pos0, cache, ws, pool, tmp);
        for (int64_t i = 0; i < n * E; ++i) x[i] += tmp[i];

        for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, L.ffn_norm.data(), h + t * E, E, hp_.rms_eps);
        if (hp_.is_moe_layer(il))
            moe(il, h, n, tmp, ws, pool);
        else
            feed_forward(L.ffn_gate, L.ffn_up, L.ffn_down, h, n, tmp, ws, pool);
        for (int64_t i = 0; i < n * E; ++i) x[i] += tmp[i];
    }

    if (logits) {
        for (int64_t t = 0; t < n; ++t) rms_norm(x + t * E, w_.output_norm.data(), h + t * E, E, hp_.rms_eps);
        project(w_.output, h, E, n, logits, hp_.n_vocab, ws, pool);
    } else if (last_logits) {
        rms_norm(x + (n - 1) * E, w_.output_norm.data(), h, E, hp_.rms_eps);
        project(w_.output, h, E, 1, last_logits, hp_.n_vocab, ws, pool);
    }
}

}  // namespace dsm
