// config.json of a Hugging Face checkpoint, reduced to what the GGUF conversion
// needs, and the GGUF hyper-parameter keys derived from it as llama.cpp's
// convert_hf_to_gguf.py derives them.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace dsm::gguf {
class Writer;
}

namespace dsm::convert {

enum class HfArch { Llama, Qwen2, Deepseek, DeepseekV2, DeepseekV3 };

struct HfConfig {
    HfArch arch = HfArch::Llama;
    std::string architecture;  // "LlamaForCausalLM", ...
    std::string gguf_arch;     // "llama", "qwen2", "deepseek", "deepseek2"
    int64_t vocab_size = 0, hidden_size = 0, n_layer = 0, n_head = 0, n_head_kv = 0;
    int64_t intermediate_size = 0, max_position_embeddings = 0, head_dim = 0;
    double rms_norm_eps = 1e-6;
    std::optional<double> rope_theta;
    bool tie_word_embeddings = false;

    // rope_scaling: "" (none), "linear" or "yarn"
    std::string rope_scaling;
    double rope_factor = 1.0;
    int64_t rope_original_ctx = 0;
    double yarn_mscale_all_dim = 0.0;

    // MoE (deepseek, deepseek_v2, deepseek_v3)
    int64_t n_routed_experts = 0, n_shared_experts = 0, moe_intermediate_size = 0;
    int64_t num_experts_per_tok = 0, first_k_dense_replace = 0;
    double routed_scaling_factor = 1.0;
    bool norm_topk_prob = false;
    bool sigmoid_gating = false;
    int64_t n_group = 1, topk_group = 1;

    // MLA (deepseek_v2, deepseek_v3); q_lora_rank 0 = plain q_proj
    int64_t q_lora_rank = 0, kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0, v_head_dim = 0;
    int64_t num_nextn_predict_layers = 0;  // MTP layers after the last (skipped)

    // FP8 checkpoints: weight_scale_inv tile size (rows, cols), quantization_config.weight_block_size
    int64_t fp8_block_rows = 128, fp8_block_cols = 128;

    std::optional<int64_t> bos_token_id, eos_token_id;

    bool is_moe() const { return n_routed_experts > 0; }
    bool is_mla() const { return arch == HfArch::DeepseekV2 || arch == HfArch::DeepseekV3; }
    // q/k rows need llama.cpp's rotary permutation (HF rotate_half -> NORM RoPE).
    bool permute_qk() const { return arch == HfArch::Llama || arch == HfArch::Deepseek; }
    bool is_moe_layer(int64_t il) const { return is_moe() && il >= first_k_dense_replace; }

    // Parses config.json text; `path` is used in messages. Unsupported architectures
    // and features (llama3 RoPE, layer-interleaved MoE) throw dsm::Error.
    static HfConfig parse(const std::string& json_text, const std::string& path);

    // Writes general.architecture and the <arch>.* hyper-parameter keys.
    void write_gguf_keys(gguf::Writer& w, int64_t n_vocab) const;
};

}  // namespace dsm::convert
