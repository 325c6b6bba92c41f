#include "quantize/recipe.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <regex>

#include "core/error.hpp"

namespace dsm::quantize {
namespace {

// llama_ftype values (general.file_type).
enum Ftype : uint32_t {
    kF32 = 0,
    kF16 = 1,
    kQ4_0 = 2,
    kQ4_1 = 3,
    kQ8_0 = 7,
    kQ5_0 = 8,
    kQ5_1 = 9,
    kQ2_K = 10,
    kQ3_K_S = 11,
    kQ3_K_M = 12,
    kQ3_K_L = 13,
    kQ4_K_S = 14,
    kQ4_K_M = 15,
    kQ5_K_S = 16,
    kQ5_K_M = 17,
    kQ6_K = 18,
    kBF16 = 32,
};

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

bool ends_with(const std::string& s, std::string_view tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Layer index of a "blk.N." name, or -1.
int layer_of(const std::string& name) {
    int il = -1;
    if (std::sscanf(name.c_str(), "blk.%d.", &il) != 1) return -1;
    return il;
}

// llama.cpp's "use more bits" layers: the first and last eighth, and every third between.
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

// int4-int8: which matrices keep 8 bits (docs/QUANTIZATION.md, "int4-int8").
bool int8_tensor(const std::string& name) {
    return name == "token_embd.weight" || name == "output.weight" || contains(name, "attn_v.weight") ||
           contains(name, "attn_kv_b.weight") || contains(name, "attn_output.weight") || contains(name, "ffn_down");
}

// Running state of llama-quantize's choice, which counts tensors as it meets them.
struct State {
    const Recipe& recipe;
    const ModelDesc& model;
    bool has_imatrix = false;
    bool has_output = false;
    int n_attention_wv = 0, i_attention_wv = 0, i_ffn_down = 0;
};

// llama_tensor_get_type for the k-quant and legacy recipes (no IQ types here).
DType llama_choice(State& s, const TensorDesc& t, DType type) {
    const std::string& name = t.name;
    const uint32_t ft = s.recipe.file_type;
    const int64_t n_expert = s.model.n_expert;
    const int64_t n_gqa = s.model.n_head_kv > 0 ? s.model.n_head / s.model.n_head_kv : 1;

    if (name == "output.weight" || (!s.has_output && name == "token_embd.weight")) {
        if (t.ne[0] % info(type).block_size != 0)
            type = DType::Q8_0;
        else if (type != DType::Q8_0)
            type = DType::Q6_K;
    } else if (name == "token_embd.weight") {
        // keeps the base type
    } else if (contains(name, "attn_v.weight")) {
        if (ft == kQ2_K)
            type = n_gqa >= 4 ? DType::Q4_K : DType::Q3_K;
        else if (ft == kQ3_K_M)
            type = s.i_attention_wv < 2 ? DType::Q5_K : DType::Q4_K;
        else if (ft == kQ3_K_L)
            type = DType::Q5_K;
        else if ((ft == kQ4_K_M || ft == kQ5_K_M) && use_more_bits(s.i_attention_wv, s.n_attention_wv))
            type = DType::Q6_K;
        else if (ft == kQ4_K_S && s.i_attention_wv < 4)
            type = DType::Q5_K;
        if (n_expert == 8) type = DType::Q8_0;  // llama.cpp: "trades just ~128MB" for 8-expert models
        ++s.i_attention_wv;
    } else if (contains(name, "attn_k.weight")) {
        if (n_expert == 8) type = DType::Q8_0;
    } else if (contains(name, "ffn_down")) {
        // MoE models: the layer comes from the name (experts of a layer are one tensor,
        // but shared experts add more ffn_down tensors per layer).
        int i_layer = s.i_ffn_down;
        const int n_layer = int(s.model.n_layer);
        if (n_expert > 1) {
            i_layer = layer_of(name);
            if (i_layer < 0 || i_layer >= n_layer)
                throw Error("quantize: cannot tell the layer (0.." + std::to_string(n_layer - 1) + ") of tensor '" +
                            name + "'");
        }
        if (ft == kQ2_K)
            type = DType::Q3_K;
        else if (ft == kQ3_K_M)
            type = i_layer < n_layer / 16 ? DType::Q5_K : DType::Q4_K;
        else if (ft == kQ3_K_L)
            type = DType::Q5_K;
        else if (ft == kQ4_K_M) {
            if (use_more_bits(i_layer, n_layer)) type = DType::Q6_K;
        } else if (ft == kQ5_K_M && use_more_bits(i_layer, n_layer))
            type = DType::Q6_K;
        else if (ft == kQ4_K_S && i_layer < n_layer / 8)
            type = DType::Q5_K;
        else if ((ft == kQ4_0 || ft == kQ5_0) && s.has_imatrix && i_layer < n_layer / 8)
            type = ft == kQ4_0 ? DType::Q4_1 : DType::Q5_1;
        ++s.i_ffn_down;
    } else if (contains(name, "attn_output.weight")) {
        if (n_expert == 8) {
            if (ft == kQ2_K || ft == kQ3_K_S || ft == kQ3_K_M || ft == kQ4_K_S || ft == kQ4_K_M) type = DType::Q5_K;
        } else {
            if (ft == kQ2_K)
                type = DType::Q3_K;
            else if (ft == kQ3_K_M)
                type = DType::Q4_K;
            else if (ft == kQ3_K_L)
                type = DType::Q5_K;
        }
    } else if (contains(name, "attn_qkv.weight")) {
        if (ft == kQ3_K_M || ft == kQ3_K_L)
            type = DType::Q4_K;
        else if (ft == kQ4_K_M)
            type = DType::Q5_K;
        else if (ft == kQ5_K_M)
            type = DType::Q6_K;
    }
    return type;
}

// A type whose block does not divide the row length falls back as llama-quantize
// does (its IQ4_NL fallback for Q2_K/Q3_K, which this engine lacks, becomes Q4_0),
// and to F16 if even that does not fit.
DType fallback(const TensorDesc& t, DType type) {
    const int64_t nx = t.ne[0];
    if (nx % info(type).block_size == 0) return type;
    switch (type) {
        case DType::Q2_K:
        case DType::Q3_K: type = DType::Q4_0; break;
        case DType::Q4_K: type = DType::Q5_0; break;
        case DType::Q5_K: type = DType::Q5_1; break;
        case DType::Q6_K: type = DType::Q8_0; break;
        default: type = DType::F16; break;
    }
    if (nx % info(type).block_size != 0) type = DType::F16;
    return type;
}

}  // namespace

const std::vector<Recipe>& recipes() {
    static const std::vector<Recipe> all = {
        {"f32", kF32, DType::F32, "32-bit float (no quantization)"},
        {"f16", kF16, DType::F16, "16-bit IEEE half for matrices"},
        {"bf16", kBF16, DType::BF16, "bfloat16 for matrices"},
        {"q8_0", kQ8_0, DType::Q8_0, "8.5 bits/weight, nearly lossless"},
        {"q6_k", kQ6_K, DType::Q6_K, "6.56 bits/weight"},
        {"q5_k_m", kQ5_K_M, DType::Q5_K, "Q5_K, Q6_K for some attn_v/ffn_down"},
        {"q5_k_s", kQ5_K_S, DType::Q5_K, "Q5_K everywhere but output"},
        {"q5_1", kQ5_1, DType::Q5_1, "legacy 5-bit with minimum"},
        {"q5_0", kQ5_0, DType::Q5_0, "legacy 5-bit"},
        {"q4_k_m", kQ4_K_M, DType::Q4_K, "Q4_K, Q6_K for some attn_v/ffn_down"},
        {"q4_k_s", kQ4_K_S, DType::Q4_K, "Q4_K, Q5_K for the first attn_v/ffn_down"},
        {"q4_1", kQ4_1, DType::Q4_1, "legacy 4-bit with minimum"},
        {"q4_0", kQ4_0, DType::Q4_0, "legacy 4-bit"},
        {"q3_k_l", kQ3_K_L, DType::Q3_K, "Q3_K, Q5_K for attn_v/attn_output/ffn_down"},
        {"q3_k_m", kQ3_K_M, DType::Q3_K, "Q3_K, Q4_K/Q5_K for attn_v/attn_output/ffn_down"},
        {"q3_k_s", kQ3_K_S, DType::Q3_K, "Q3_K everywhere but output"},
        {"q2_k", kQ2_K, DType::Q2_K, "Q2_K, Q3_K/Q4_K for attn_v/attn_output/ffn_down"},
        {"int4-int8", kQ4_0, DType::Q4_0, "Q4_0, Q8_0 for embeddings, output, attn_v/kv_b, attn_output, ffn_down"},
    };
    return all;
}

std::optional<Recipe> recipe_from_name(std::string_view name) {
    std::string lower(name);
    for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
    for (const Recipe& r : recipes())
        if (r.name == lower) return r;
    return std::nullopt;
}

bool is_quantizable(const TensorDesc& t) {
    size_t n_dims = 1;  // ggml_n_dims: trailing dimensions of size 1 do not count
    for (size_t i = 1; i < t.ne.size(); ++i)
        if (t.ne[i] > 1) n_dims = i + 1;
    return n_dims >= 2 && ends_with(t.name, "weight") && !contains(t.name, "_norm.weight") &&
           !contains(t.name, "ffn_gate_inp.weight");
}

std::vector<std::optional<DType>> choose_types(const Recipe& recipe, const ModelDesc& model,
                                               const std::vector<TensorDesc>& tensors, bool has_imatrix,
                                               const std::vector<TypeOverride>& overrides) {
    State s{recipe, model, has_imatrix};
    for (const auto& t : tensors) {
        if (contains(t.name, "attn_v.weight") || contains(t.name, "attn_qkv.weight") ||
            contains(t.name, "attn_kv_b.weight"))
            ++s.n_attention_wv;
        if (t.name == "output.weight") s.has_output = true;
    }
    std::vector<std::pair<std::regex, DType>> compiled;
    for (const auto& o : overrides) {
        try {
            compiled.emplace_back(std::regex(o.pattern), o.type);
        } catch (const std::regex_error& e) {
            throw Error("quantize: bad tensor-type pattern '" + o.pattern + "': " + e.what());
        }
    }

    const bool base_quantized = info(recipe.base).quantized;
    const bool int4_int8 = recipe.name == "int4-int8";
    std::vector<std::optional<DType>> out;
    out.reserve(tensors.size());
    for (const auto& t : tensors) {
        if (t.ne.empty()) throw Error("quantize: tensor '" + t.name + "' has no dimensions");
        if (!is_quantizable(t)) {
            out.emplace_back(std::nullopt);
            continue;
        }
        DType type = recipe.base;
        if (int4_int8)
            type = int8_tensor(t.name) ? DType::Q8_0 : DType::Q4_0;
        else if (base_quantized)
            type = llama_choice(s, t, type);
        for (const auto& [re, ot] : compiled)
            if (std::regex_search(t.name, re)) {
                type = ot;
                break;
            }
        out.emplace_back(fallback(t, type));
    }
    return out;
}

std::vector<size_t> llama_tensor_order(const std::vector<std::string>& names) {
    std::vector<size_t> idx(names.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
        const int la = layer_of(names[a]), lb = layer_of(names[b]);
        if (la != lb) return la < lb;
        return names[a] < names[b];
    });
    return idx;
}

}  // namespace dsm::quantize
