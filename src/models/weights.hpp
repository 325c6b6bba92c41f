// Views of model weights inside the mapped GGUF file, looked up by name with their
// shapes checked, plus the per-layer weight sets of every architecture.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.hpp"
#include "core/weight.hpp"
#include "kernels/pack.hpp"
#include "models/hparams.hpp"

namespace dsm {
namespace gguf { class File; }

struct LayerWeights {
    std::vector<float> attn_norm, ffn_norm;
    // llama / qwen2 / deepseek attention
    Weight wq, wk, wv, wo;
    std::vector<float> bq, bk, bv;
    // deepseek2 MLA
    Weight wq_a, wq_b, wkv_a_mqa, wkv_b, wk_b, wv_b;
    // Legacy attn_kv_b layout: the type its product quantizes the latent to. The
    // cache stores the latent already rounded through it, so the absorbed form
    // (which never runs that product) sees the numbers the decompressed form does.
    DType latent_rounding = DType::F32;
    std::vector<float> q_a_norm, kv_a_norm;
    // dense feed-forward
    Weight ffn_gate, ffn_up, ffn_down;
    // mixture of experts
    Weight ffn_gate_inp;                       // router [n_expert][n_embd]
    std::vector<float> exp_probs_b;            // selection bias (V3)
    Weight gate_exps, up_exps, down_exps;      // [n_expert] stacks
    Weight gate_shexp, up_shexp, down_shexp;   // shared experts as one FFN
};

struct ModelWeights {
    Weight token_embd, output;
    std::vector<float> output_norm;
    std::vector<LayerWeights> layers;
    std::vector<std::vector<float>> owned;     // storage for weights derived at load
    // Packed copies (kernels/pack.hpp) in anonymous memory, optionally on huge pages.
    struct PackedBuffer {
        uint8_t* data = nullptr;
        size_t size = 0;
        PackedBuffer(size_t bytes, bool huge_pages);
        ~PackedBuffer();
        PackedBuffer(const PackedBuffer&) = delete;
        PackedBuffer& operator=(const PackedBuffer&) = delete;
    };
    std::unique_ptr<PackedBuffer> packed;
    std::vector<std::unique_ptr<kernels::PackOnDemand>> packed_on_demand;  // expert stacks

    // Loads and checks every tensor the architecture needs; throws dsm::Error naming
    // the tensor and the expected and actual shapes.
    static ModelWeights load(const gguf::File& f, HParams& hp);
    // Packs every matrix product weight the table has a packed layout for, calling
    // done(original) after each so the caller can release the file's pages; routed
    // expert stacks are packed matrix by matrix at first use. Returns the bytes
    // reserved for packed weights.
    size_t pack(const kernels::KernelTable& table, ThreadPool& pool, bool huge_pages,
                const std::function<void(const Weight&)>& done);
};

}  // namespace dsm
