#include "convert/hf_config.hpp"

#include <cmath>
#include <nlohmann/json.hpp>

#include "core/error.hpp"
#include "formats/gguf_writer.hpp"

namespace dsm::convert {
namespace {

using nlohmann::json;

class Fields {
public:
    Fields(const json& j, std::string path, std::string arch) : j_(j), path_(std::move(path)), arch_(std::move(arch)) {}

    bool has(const char* key) const { return j_.contains(key) && !j_.at(key).is_null(); }

    std::optional<int64_t> opt_int(const char* key) const {
        if (!has(key)) return std::nullopt;
        const json& v = j_.at(key);
        if (v.is_number_integer()) return v.get<int64_t>();
        if (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>()) return int64_t(v.get<double>());
        bad(key, "an integer", v);
    }
    int64_t req_int(const char* key, int64_t min = 1) const {
        const auto v = opt_int(key);
        if (!v) throw Error(path_ + ": missing key '" + key + "' (required for " + arch_ + ")");
        if (*v < min) bad(key, "an integer >= " + std::to_string(min), j_.at(key));
        return *v;
    }
    int64_t int_or(const char* key, int64_t def, int64_t min = 0) const {
        if (!has(key)) return def;
        return req_int(key, min);
    }
    std::optional<double> opt_float(const char* key) const {
        if (!has(key)) return std::nullopt;
        const json& v = j_.at(key);
        if (!v.is_number()) bad(key, "a number", v);
        return v.get<double>();
    }
    double float_or(const char* key, double def) const { return opt_float(key).value_or(def); }
    bool bool_or(const char* key, bool def) const {
        if (!has(key)) return def;
        if (!j_.at(key).is_boolean()) bad(key, "true or false", j_.at(key));
        return j_.at(key).get<bool>();
    }
    std::string string_or(const char* key, const std::string& def) const {
        if (!has(key)) return def;
        if (!j_.at(key).is_string()) bad(key, "a string", j_.at(key));
        return j_.at(key).get<std::string>();
    }
    [[noreturn]] void bad(const std::string& key, const std::string& want, const json& got) const {
        throw Error(path_ + ": key '" + key + "' must be " + want + ", got " + got.dump());
    }

private:
    const json& j_;
    std::string path_, arch_;
};

// First id of a field that may be an integer or a list of integers.
std::optional<int64_t> token_id(const json& j, const char* key) {
    if (!j.contains(key)) return std::nullopt;
    const json& v = j.at(key);
    if (v.is_number_integer()) return v.get<int64_t>();
    if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
    return std::nullopt;
}

}  // namespace

HfConfig HfConfig::parse(const std::string& text, const std::string& path) {
    json j;
    try {
        j = json::parse(text);
    } catch (const json::exception& e) {
        throw Error(path + ": not valid JSON: " + e.what());
    }
    if (!j.is_object()) throw Error(path + ": not a JSON object");

    HfConfig c;
    if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
        j["architectures"][0].is_string())
        c.architecture = j["architectures"][0].get<std::string>();
    const std::string model_type = j.value("model_type", std::string());
    if (c.architecture == "LlamaForCausalLM" || (c.architecture.empty() && model_type == "llama")) {
        c.arch = HfArch::Llama, c.gguf_arch = "llama";
    } else if (c.architecture == "Qwen2ForCausalLM" || (c.architecture.empty() && model_type == "qwen2")) {
        c.arch = HfArch::Qwen2, c.gguf_arch = "qwen2";
    } else if (c.architecture == "DeepseekForCausalLM" || (c.architecture.empty() && model_type == "deepseek")) {
        c.arch = HfArch::Deepseek, c.gguf_arch = "deepseek";
    } else if (c.architecture == "DeepseekV2ForCausalLM" || (c.architecture.empty() && model_type == "deepseek_v2")) {
        c.arch = HfArch::DeepseekV2, c.gguf_arch = "deepseek2";
    } else if (c.architecture == "DeepseekV3ForCausalLM" || (c.architecture.empty() && model_type == "deepseek_v3")) {
        c.arch = HfArch::DeepseekV3, c.gguf_arch = "deepseek2";
    } else {
        throw Error(path + ": unsupported architecture '" + (c.architecture.empty() ? model_type : c.architecture) +
                    "' (supported: LlamaForCausalLM, Qwen2ForCausalLM, DeepseekForCausalLM, DeepseekV2ForCausalLM, "
                    "DeepseekV3ForCausalLM)");
    }
    if (c.architecture.empty()) c.architecture = model_type;
    const Fields f(j, path, c.architecture);

    c.vocab_size = f.req_int("vocab_size");
    c.hidden_size = f.req_int("hidden_size");
    c.n_layer = f.req_int("num_hidden_layers");
    c.n_head = f.req_int("num_attention_heads");
    c.n_head_kv = f.int_or("num_key_value_heads", c.n_head, 1);
    c.intermediate_size = f.req_int("intermediate_size");
    c.max_position_embeddings = f.req_int("max_position_embeddings");
    c.rms_norm_eps = f.float_or("rms_norm_eps", 1e-6);
    c.rope_theta = f.opt_float("rope_theta");
    c.tie_word_embeddings = f.bool_or("tie_word_embeddings", false);
    c.head_dim = f.int_or("head_dim", c.hidden_size / c.n_head, 1);
    if (c.n_head % c.n_head_kv != 0)
        throw Error(path + ": num_attention_heads " + std::to_string(c.n_head) +
                    " is not a multiple of num_key_value_heads " + std::to_string(c.n_head_kv));

    if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
        const json& rs = j["rope_scaling"];
        if (!rs.is_object()) f.bad("rope_scaling", "an object or null", rs);
        const Fields r(rs, path + " (rope_scaling)", c.architecture);
        std::string type = r.string_or("type", r.string_or("rope_type", ""));
        c.rope_factor = r.float_or("factor", 1.0);
        if (type == "linear" || type == "yarn") {
            c.rope_scaling = type;
            c.rope_original_ctx = r.int_or("original_max_position_embeddings", 0);
            c.yarn_mscale_all_dim = r.float_or("mscale_all_dim", 0.0);
        } else if (type != "default" && type != "") {
            throw Error(path + ": rope_scaling type '" + type + "' is not supported (supported: linear, yarn)");
        }
    }

    if (c.arch == HfArch::Deepseek || c.is_mla()) {
        c.n_routed_experts = f.int_or("n_routed_experts", 0);
        if (c.is_moe()) {
            c.n_shared_experts = f.int_or("n_shared_experts", 0);
            c.moe_intermediate_size = f.req_int("moe_intermediate_size");
            c.num_experts_per_tok = f.req_int("num_experts_per_tok");
            c.first_k_dense_replace = f.int_or("first_k_dense_replace", 0);
            if (f.int_or("moe_layer_freq", 1, 1) != 1)
                throw Error(path +
                            ": moe_layer_freq other than 1 is not supported (llama.cpp assumes every layer after "
                            "first_k_dense_replace is MoE)");
            c.routed_scaling_factor = f.float_or("routed_scaling_factor", 1.0);
            c.norm_topk_prob = f.bool_or("norm_topk_prob", false);
            const std::string scoring = f.string_or("scoring_func", "softmax");
            if (scoring != "softmax" && scoring != "sigmoid")
                throw Error(path + ": scoring_func '" + scoring + "' is not supported (softmax, sigmoid)");
            c.sigmoid_gating = scoring == "sigmoid";
            c.n_group = f.int_or("n_group", 1, 1);
            c.topk_group = f.int_or("topk_group", c.n_group, 1);
        }
    }
    if (c.is_mla()) {
        c.q_lora_rank = f.int_or("q_lora_rank", 0);
        c.kv_lora_rank = f.req_int("kv_lora_rank");
        c.qk_nope_head_dim = f.req_int("qk_nope_head_dim");
        c.qk_rope_head_dim = f.req_int("qk_rope_head_dim");
        c.v_head_dim = f.req_int("v_head_dim");
        c.num_nextn_predict_layers = f.int_or("num_nextn_predict_layers", 0);
    }

    if (j.contains("quantization_config") && !j["quantization_config"].is_null()) {
        const json& q = j["quantization_config"];
        const std::string method = q.is_object() ? q.value("quant_method", std::string()) : std::string();
        if (method != "fp8")
            throw Error(path + ": quantization_config with quant_method '" + method + "' is not supported (only fp8)");
        if (q.contains("weight_block_size")) {
            const json& b = q["weight_block_size"];
            if (!b.is_array() || b.size() != 2 || !b[0].is_number_unsigned() || !b[1].is_number_unsigned() ||
                b[0].get<uint64_t>() == 0 || b[1].get<uint64_t>() == 0 || b[0].get<uint64_t>() > (1u << 20) ||
                b[1].get<uint64_t>() > (1u << 20))
                f.bad("quantization_config.weight_block_size", "two positive integers [rows, cols]", b);
            c.fp8_block_rows = b[0].get<int64_t>();
            c.fp8_block_cols = b[1].get<int64_t>();
        }
    }
    c.bos_token_id = token_id(j, "bos_token_id");
    c.eos_token_id = token_id(j, "eos_token_id");
    return c;
}

void HfConfig::write_gguf_keys(gguf::Writer& w, int64_t n_vocab) const {
    const std::string a = gguf_arch + ".";
    auto u32 = [&](const char* k, int64_t v) { w.set_u32(a + k, uint32_t(v)); };
    auto f32 = [&](const char* k, double v) { w.set_f32(a + k, float(v)); };
    u32("context_length", max_position_embeddings);
    u32("embedding_length", hidden_size);
    u32("block_count", n_layer);
    u32("feed_forward_length", intermediate_size);
    u32("attention.head_count", n_head);
    f32("attention.layer_norm_rms_epsilon", rms_norm_eps);
    if (rope_theta) f32("rope.freq_base", *rope_theta);
    u32("attention.head_count_kv", n_head_kv);

    if (arch == HfArch::Llama || arch == HfArch::Qwen2 || arch == HfArch::Deepseek) {
        u32("rope.dimension_count", head_dim);
        if (arch == HfArch::Deepseek) w.set_string(a + "rope.scaling.type", "none");
        if (arch != HfArch::Qwen2) u32("vocab_size", n_vocab);
        if (rope_scaling == "linear" || rope_scaling == "yarn") {
            w.set_string(a + "rope.scaling.type", rope_scaling);
            f32("rope.scaling.factor", rope_factor);
            if (rope_scaling == "yarn" && rope_original_ctx > 0)
                u32("rope.scaling.original_context_length", rope_original_ctx);
        }
        if (arch == HfArch::Deepseek && is_moe()) {
            u32("leading_dense_block_count", first_k_dense_replace);
            u32("expert_feed_forward_length", moe_intermediate_size);
            u32("expert_count", n_routed_experts);
            u32("expert_used_count", num_experts_per_tok);
            u32("expert_shared_count", n_shared_experts);
            f32("expert_weights_scale", 1.0);
        }
        return;
    }

    // deepseek2 (DeepSeek-V2 / V3): MLA and MoE
    u32("vocab_size", n_vocab);
    u32("leading_dense_block_count", first_k_dense_replace);
    if (q_lora_rank > 0) u32("attention.q_lora_rank", q_lora_rank);
    u32("attention.kv_lora_rank", kv_lora_rank);
    u32("attention.key_length", qk_nope_head_dim + qk_rope_head_dim);
    u32("attention.value_length", v_head_dim);
    u32("rope.dimension_count", qk_rope_head_dim);
    if (is_moe()) {
        u32("expert_feed_forward_length", moe_intermediate_size);
        u32("expert_count", n_routed_experts);
        u32("expert_used_count", num_experts_per_tok);
        u32("expert_shared_count", n_shared_experts);
        f32("expert_weights_scale", routed_scaling_factor);
        w.set_bool(a + "expert_weights_norm", norm_topk_prob);
        u32("expert_gating_func", sigmoid_gating ? 2 : 1);
        if (n_group > 1) {
            u32("expert_group_count", n_group);
            u32("expert_group_used_count", topk_group);
        }
    }
    if (rope_scaling == "yarn" || rope_scaling == "linear") {
        w.set_string(a + "rope.scaling.type", rope_scaling);
        f32("rope.scaling.factor", rope_factor);
        if (rope_original_ctx > 0) u32("rope.scaling.original_context_length", rope_original_ctx);
    }
    // llama.cpp's deepseek2 loader requires this key even without YaRN (0: no effect).
    f32("rope.scaling.yarn_log_multiplier", rope_scaling == "yarn" ? 0.1 * yarn_mscale_all_dim : 0.0);
}

}  // namespace dsm::convert
