// The decoder-only transformer shared by every supported architecture:
//
//   x = embed(tokens)
//   for each layer:  x += attention(rms_norm(x))      GQA (llama, qwen2, deepseek) or MLA (deepseek2)
//                    x += feed_forward(rms_norm(x))   dense SwiGLU, or mixture of experts
//   logits = output(rms_norm(x))
//
// forward() processes a batch of consecutive tokens appended to a KV cache.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/thread_pool.hpp"
#include "models/hparams.hpp"
#include "models/layers.hpp"
#include "models/weights.hpp"

namespace dsm {

class KvCache;

// How MLA attention is computed. Both give the same result to float rounding;
// the absorbed form never expands the latent cache into per-head keys and values.
enum class MlaMode { Auto, Absorbed, Decompressed };

// Sees the input of every weight product (for importance statistics, `dsm imatrix`).
// x holds n rows of w.cols floats, x_stride apart.
using MatmulObserver = std::function<void(const Weight& w, const float* x, int64_t x_stride, int64_t n)>;

// Scratch buffers reused across forward calls (one per context).
struct Workspace {
    std::vector<float> x, h, q, k, v, attn, ffn_a, ffn_b, tmp, latent, router;
    std::vector<std::vector<float>> per_thread;
    std::vector<uint8_t> act;  // quantized activations for matmul
    // Per pool thread, for tasks that each run whole products (project_each, experts).
    std::vector<std::vector<uint8_t>> task_act;
    std::vector<std::vector<float>> task_ffn;
    // Reference precision: weights dequantized, activations kept in F32 (slow; for
    // checking numerics without the activation rounding of quantized products).
    bool f32_activations = false;
    MatmulObserver observer;  // optional
};

// y = W x for n rows of x (see kernels::matmul), honouring the workspace's precision
// and observer. Every weight product of the models goes through here.
void project(const Weight& w, const float* x, int64_t x_stride, int64_t n, float* y, int64_t y_stride, Workspace& ws,
             ThreadPool& pool);

// One weight product of a batch for project_each.
struct Product {
    Weight w;
    const float* x;
    int64_t x_stride;
    float* y;
    int64_t y_stride;
};

// count independent small products of n rows each, product(i) describing the i-th:
// one task per product on the pool (one dispatch instead of count). With an observer
// or F32 activations they go through project() one after another.
void project_each(int64_t count, int64_t n, const std::function<Product(int64_t)>& product, Workspace& ws,
                  ThreadPool& pool);

class Transformer {
public:
    Transformer(HParams hp, ModelWeights w);

    const HParams& hparams() const { return hp_; }
    const ModelWeights& weights() const { return w_; }

    // Runs tokens[0..n) at positions pos0..pos0+n-1 (the cache must hold pos0 tokens).
    // Writes n rows of n_vocab logits into `logits` if it is not null, else only the
    // last row into `last_logits` (if not null).
    void forward(const int32_t* tokens, int64_t n, int64_t pos0, KvCache& cache, Workspace& ws, ThreadPool& pool,
                 float* logits, float* last_logits, MlaMode mla_mode = MlaMode::Auto) const;

private:
    void attention_gqa(int64_t il, const float* h, int64_t n, int64_t pos0, KvCache& cache, Workspace& ws,
                       ThreadPool& pool, float* out) const;
    void attention_mla(int64_t il, const float* h, int64_t n, int64_t pos0, KvCache& cache, Workspace& ws,
                       ThreadPool& pool, float* out, MlaMode mode) const;
    void feed_forward(const Weight& gate, const Weight& up, const Weight& down, const float* h, int64_t n, float* out,
                      Workspace& ws, ThreadPool& pool) const;
    void moe(int64_t il, const float* h, int64_t n, float* out, Workspace& ws, ThreadPool& pool) const;
    // Picks experts and their weights for one token from the router's scores.
    void route(const LayerWeights& L, const float* logits, int32_t* chosen, float* weights) const;

    HParams hp_;
    ModelWeights w_;
    RopeTable rope_;
};

}  // namespace dsm
