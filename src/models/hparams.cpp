#include "models/hparams.hpp"

#include <cmath>

#include "core/error.hpp"
#include "formats/gguf.hpp"

namespace dsm {

const char* arch_name(Arch a) {
    switch (a) {
        case Arch::Llama: return "llama";
        case Arch::Qwen2: return "qwen2";
        case Arch::DeepSeek: return "deepseek";
        case Arch::DeepSeek2: return "deepseek2";
    }
    return "?";
}

namespace {

class Keys {
public:
    Keys(const gguf::File& f, std::string arch) : f_(f), prefix_(std::move(arch) + ".") {}
    int64_t req(const char* k) const { return f_.require_int(prefix_ + k); }
    int64_t opt(const char* k, int64_t def) const { return f_.get_int(prefix_ + k).value_or(def); }
    double reqf(const char* k) const { return f_.require_float(prefix_ + k); }
    double optf(const char* k, double def) const { return f_.get_float(prefix_ + k).value_or(def); }
    bool optb(const char* k, bool def) const { return f_.get_bool(prefix_ + k).value_or(def); }
    std::string opts(const char* k) const { return f_.get_string(prefix_ + k).value_or(""); }
    bool has(const char* k) const { return f_.find(prefix_ + k) != nullptr; }
    [[noreturn]] void bad(const std::string& what) const { throw Error(f_.path() + ": " + what); }
    void positive(const char* k, int64_t v) const {
        if (v <= 0) bad("metadata key '" + prefix_ + k + "' must be positive, got " + std::to_string(v));
    }

private:
    const gguf::File& f_;
    std::string prefix_;
};

}  // namespace

HParams HParams::from_gguf(const gguf::File& f) {
    const std::string arch = f.require_string("general.architecture");
    HParams hp;
    if (arch == "llama") hp.arch = Arch::Llama;
    else if (arch == "qwen2") hp.arch = Arch::Qwen2;
    else if (arch == "deepseek") hp.arch = Arch::DeepSeek;
    else if (arch == "deepseek2") hp.arch = Arch::DeepSeek2;
    else throw Error(f.path() + ": unsupported architecture '" + arch + "' (supported: llama, qwen2, deepseek, deepseek2)");

    const Keys k(f, arch);
    hp.n_embd = k.req("embedding_length");
    hp.n_layer = k.req("block_count");
    hp.n_ctx_train = k.req("context_length");
    hp.n_head = k.req("attention.head_count");
    hp.n_head_kv = k.opt("attention.head_count_kv", hp.n_head);
    hp.n_ff = k.opt("feed_forward_length", 0);
    hp.rms_eps = float(k.reqf("attention.layer_norm_rms_epsilon"));
    k.positive("embedding_length", hp.n_embd);
    k.positive("block_count", hp.n_layer);
    k.positive("context_length", hp.n_ctx_train);
    k.positive("attention.head_count", hp.n_head);
    k.positive("attention.head_count_kv", hp.n_head_kv);
    if (hp.n_layer > 4096) k.bad("block_count " + std::to_string(hp.n_layer) + " is implausibly large");
    if (hp.n_head > 4096 || hp.n_head % hp.n_head_kv != 0)
        k.bad("attention.head_count " + std::to_string(hp.n_head) + " is not a multiple of head_count_kv " +
              std::to_string(hp.n_head_kv));
    if (!(hp.rms_eps > 0.0f && hp.rms_eps < 1.0f)) k.bad("attention.layer_norm_rms_epsilon must be in (0, 1)");

    hp.head_dim_k = k.opt("attention.key_length", hp.n_embd / hp.n_head);
    hp.head_dim_v = k.opt("attention.value_length", hp.n_embd / hp.n_head);

    // RoPE
    RopeParams& r = hp.rope;
    r.pairing = hp.arch == Arch::Qwen2 ? RopePairing::Halves : RopePairing::Adjacent;
    r.freq_base = float(k.optf("rope.freq_base", 10000.0));
    if (!(r.freq_base > 1.0f)) k.bad("rope.freq_base must be > 1");
    const std::string scaling = k.opts("rope.scaling.type");
    double factor = k.optf("rope.scaling.factor", 0.0);
    if (k.has("rope.scale_linear") && scaling.empty()) factor = k.optf("rope.scale_linear", 1.0);
    if (scaling == "linear" || scaling == "yarn" || (scaling.empty() && factor > 0.0)) {
        if (!(factor > 0.0)) k.bad("rope.scaling.factor must be positive for " + scaling + " scaling");
        r.freq_scale = float(1.0 / factor);
    } else if (!scaling.empty() && scaling != "none") {
        k.bad("unsupported rope.scaling.type '" + scaling + "' (supported: none, linear, yarn)");
    }
    if (scaling == "yarn") {
        r.yarn = true;
        r.yarn_ext_factor = 1.0f;
        r.yarn_orig_ctx = int(k.opt("rope.scaling.original_context_length", hp.n_ctx_train));
        if (r.yarn_orig_ctx <= 0) k.bad("rope.scaling.original_context_length must be positive");
    }

    if (hp.arch == Arch::DeepSeek2) {
        hp.q_lora_rank = k.opt("attention.q_lora_rank", 0);
        hp.kv_lora_rank = k.req("attention.kv_lora_rank");
        hp.qk_rope = k.req("rope.dimension_count");
        hp.mla_split_kv_b = k.has("attention.key_length_mla") || f.find_tensor("blk.0.attn_k_b.weight");
        if (hp.mla_split_kv_b) {
            // Split layout: key_length/value_length describe the latent cache row;
            // the per-head sizes are in the *_mla keys.
            hp.head_dim_k = k.req("attention.key_length_mla");
            hp.head_dim_v = k.req("attention.value_length_mla");
            hp.n_head_kv = hp.n_head;
        }
        hp.qk_nope = hp.head_dim_k - hp.qk_rope;
        k.positive("attention.kv_lora_rank", hp.kv_lora_rank);
        k.positive("rope.dimension_count", hp.qk_rope);
        if (hp.qk_nope <= 0 || hp.qk_rope % 2 != 0)
            k.bad("attention.key_length " + std::to_string(hp.head_dim_k) + " must exceed the even rope.dimension_count " +
                  std::to_string(hp.qk_rope));
        r.n_rot = int(hp.qk_rope);
        // DeepSeek's YaRN puts the whole magnitude correction into the softmax scale:
        // cos/sin get attn_factor = 1/(1 + 0.1 ln s), cancelling ggml's own (1 + 0.1 ln s).
        const float log_mul = float(k.reqf("rope.scaling.yarn_log_multiplier"));
        const float inv_scale = 1.0f / r.freq_scale;
        const float mscale = 1.0f + log_mul * std::log(inv_scale);
        hp.kq_scale = 1.0f * mscale * mscale / std::sqrt(float(hp.head_dim_k));
        r.yarn_attn_factor = 1.0f / (1.0f + 0.1f * std::log(inv_scale));
    } else {
        r.n_rot = int(k.opt("rope.dimension_count", hp.head_dim_k));
        hp.kq_scale = 1.0f / std::sqrt(float(hp.head_dim_k));
    }
    k.positive("attention.key_length", hp.head_dim_k);
    k.positive("attention.value_length", hp.head_dim_v);
    if (r.n_rot <= 0 || r.n_rot > hp.head_dim_k || r.n_rot % 2 != 0)
        k.bad("rope.dimension_count " + std::to_string(r.n_rot) + " must be even and at most the head size " +
              std::to_string(hp.head_dim_k));

    if (hp.arch == Arch::DeepSeek || hp.arch == Arch::DeepSeek2) {
        hp.n_leading_dense = k.req("leading_dense_block_count");
        hp.n_ff_exp = k.req("expert_feed_forward_length");
        hp.n_expert = k.req("expert_count");
        hp.n_expert_used = k.req("expert_used_count");
        hp.n_expert_shared = k.req("expert_shared_count");
        k.positive("expert_count", hp.n_expert);
        k.positive("expert_used_count", hp.n_expert_used);
        k.positive("expert_feed_forward_length", hp.n_ff_exp);
        if (hp.n_expert_used > hp.n_expert || hp.n_expert > 4096)
            k.bad("expert_used_count " + std::to_string(hp.n_expert_used) + " exceeds expert_count " +
                  std::to_string(hp.n_expert));
        if (hp.n_expert_shared < 0 || hp.n_leading_dense < 0 || hp.n_leading_dense > hp.n_layer)
            k.bad("invalid expert_shared_count or leading_dense_block_count");
        hp.expert_weights_scale = float(k.reqf("expert_weights_scale"));
        if (hp.arch == Arch::DeepSeek2) {
            hp.expert_weights_norm = k.optb("expert_weights_norm", false);
            const int64_t g = k.opt("expert_gating_func", 0);
            if (g != 0 && g != 1 && g != 2) k.bad("unknown expert_gating_func " + std::to_string(g));
            hp.gating = g == 2 ? Gating::Sigmoid : Gating::Softmax;
            hp.n_expert_group = k.opt("expert_group_count", 1);
            hp.n_expert_group_used = k.opt("expert_group_used_count", hp.n_expert_group);
            if (hp.n_expert_group <= 0 || hp.n_expert % hp.n_expert_group != 0 || hp.n_expert_group_used <= 0 ||
                hp.n_expert_group_used > hp.n_expert_group)
                k.bad("expert_group_count " + std::to_string(hp.n_expert_group) + " / expert_group_used_count " +
                      std::to_string(hp.n_expert_group_used) + " do not divide expert_count " + std::to_string(hp.n_expert));
        } else {
            // DeepSeek-MoE v1: softmax, no renormalisation, no scaling.
            hp.expert_weights_scale = 1.0f;
        }
    }
    if (hp.n_leading_dense > 0 || hp.n_expert == 0) k.positive("feed_forward_length", hp.n_ff);
    return hp;
}

}  // namespace dsm
