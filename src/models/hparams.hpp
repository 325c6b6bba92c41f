// Hyper-parameters of a transformer as the GGUF metadata describes them, for every
// supported architecture. Reading them validates presence, types and ranges.
#pragma once
#include <cstdint>
#include <string>

namespace dsm {
namespace gguf { class File; }

enum class Arch { Llama, Qwen2, DeepSeek, DeepSeek2 };
const char* arch_name(Arch a);

enum class RopePairing { Adjacent, Halves };  // (2i, 2i+1) "NORM" vs (i, i + d/2) "NEOX"
enum class Gating { Softmax, Sigmoid };

struct RopeParams {
    RopePairing pairing = RopePairing::Adjacent;
    int n_rot = 0;             // rotated dimensions per head
    float freq_base = 10000.0f;
    float freq_scale = 1.0f;   // 1 / scaling factor (linear and YaRN)
    bool yarn = false;
    float yarn_ext_factor = 0.0f;
    float yarn_attn_factor = 1.0f;
    float yarn_beta_fast = 32.0f, yarn_beta_slow = 1.0f;
    int yarn_orig_ctx = 0;
};

struct HParams {
    Arch arch = Arch::Llama;
    int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_ctx_train = 0;
    int64_t n_head = 0, n_head_kv = 0;
    int64_t head_dim_k = 0, head_dim_v = 0;   // per-head key / value sizes
    int64_t n_ff = 0;                          // dense feed-forward width
    float rms_eps = 1e-5f;
    RopeParams rope;
    float kq_scale = 0.0f;                     // softmax scale of q·k

    // MLA (deepseek2)
    int64_t q_lora_rank = 0;                   // 0: plain attn_q
    int64_t kv_lora_rank = 0;
    int64_t qk_nope = 0, qk_rope = 0;
    bool mla_split_kv_b = false;               // attn_k_b / attn_v_b instead of attn_kv_b

    // MoE (deepseek, deepseek2)
    int64_t n_expert = 0, n_expert_used = 0, n_expert_shared = 0, n_ff_exp = 0;
    int64_t n_leading_dense = 0;
    Gating gating = Gating::Softmax;
    bool expert_weights_norm = false;
    float expert_weights_scale = 1.0f;         // multiplies routed weights (deepseek2 only)
    int64_t n_expert_group = 1, n_expert_group_used = 1;

    bool is_moe_layer(int64_t il) const { return n_expert > 0 && il >= n_leading_dense; }
    bool is_mla() const { return arch == Arch::DeepSeek2; }
    // Values cached per token and layer: latent + rotary key for MLA, K and V otherwise.
    int64_t kv_cache_width() const {
        return is_mla() ? kv_lora_rank + qk_rope : n_head_kv * (head_dim_k + head_dim_v);
    }

    static HParams from_gguf(const gguf::File& f);
};

}  // namespace dsm
