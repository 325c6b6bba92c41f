#include "convert/hf_tensors.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "core/error.hpp"
#include "core/fp16.hpp"

namespace dsm::convert {
namespace fs = std::filesystem;
namespace {

std::string read_text(const fs::path& p) {
    std::ifstream f(p, std::ios::binary);
    if (!f) throw Error(p.string() + ": cannot open");
    std::ostringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::string shape_str(const std::vector<int64_t>& s) {
    std::string out = "[";
    for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
    return out + "]";
}

bool starts_with(const std::string& s, std::string_view p) { return s.compare(0, p.size(), p) == 0; }
bool ends_with(const std::string& s, std::string_view t) {
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// Parses a decimal index at s[pos..] up to the next '.'; -1 if malformed.
int64_t parse_index(const std::string& s, size_t pos, size_t& end) {
    end = s.find('.', pos);
    if (end == std::string::npos || end == pos || end - pos > 9) return -1;
    int64_t v = 0;
    for (size_t i = pos; i < end; ++i) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

float fp8_e4m3_to_f32(uint8_t v) {
    const int sign = v >> 7, exp = (v >> 3) & 15, mant = v & 7;
    float x;
    if (exp == 15 && mant == 7)
        x = NAN;  // e4m3fn has no infinities
    else if (exp == 0)
        x = std::ldexp(float(mant) / 8.0f, -6);
    else
        x = std::ldexp(1.0f + float(mant) / 8.0f, exp - 7);
    return sign ? -x : x;
}

const std::array<float, 256>& fp8_table() {
    static const std::array<float, 256> t = [] {
        std::array<float, 256> a{};
        for (int i = 0; i < 256; ++i) a[size_t(i)] = fp8_e4m3_to_f32(uint8_t(i));
        return a;
    }();
    return t;
}

void decode_values(StDType t, const uint8_t* p, int64_t n, float* out) {
    switch (t) {
        case StDType::F32: std::memcpy(out, p, size_t(n) * 4); return;
        case StDType::F64:
            for (int64_t i = 0; i < n; ++i) {
                double d;
                std::memcpy(&d, p + 8 * i, 8);
                out[i] = float(d);
            }
            return;
        case StDType::F16:
        case StDType::BF16:
            for (int64_t i = 0; i < n; ++i) {
                uint16_t h;
                std::memcpy(&h, p + 2 * i, 2);
                out[i] = t == StDType::F16 ? fp16_to_f32(h) : bf16_to_f32(h);
            }
            return;
        case StDType::F8_E4M3: {
            const auto& tab = fp8_table();
            for (int64_t i = 0; i < n; ++i) out[i] = tab[p[i]];
            return;
        }
        default: throw Error("unsupported safetensors dtype " + std::string(st_dtype_name(t)));
    }
}

bool float_dtype(StDType t) {
    return t == StDType::F32 || t == StDType::F16 || t == StDType::BF16 || t == StDType::F64 || t == StDType::F8_E4M3;
}

// What a GGUF tensor should look like, and which HF tensor feeds it.
struct Expected {
    std::string gguf;
    std::vector<int64_t> ne;
    std::string hf;  // HF name (for experts: with "{e}")
    bool optional = false;
    int64_t permute = 0;   // q/k permutation heads
    int64_t n_expert = 0;  // > 0: stacked from hf with {e} = 0..n_expert-1
};

std::vector<Expected> expected_tensors(const HfConfig& c, bool has_lm_head) {
    const int64_t E = c.hidden_size, V = c.vocab_size;
    std::vector<Expected> x;
    x.push_back({"token_embd.weight", {E, V}, "model.embed_tokens.weight"});
    for (int64_t il = 0; il < c.n_layer; ++il) {
        const std::string b = "blk." + std::to_string(il) + ".", h = "model.layers." + std::to_string(il) + ".";
        auto add = [&](const std::string& g, std::vector<int64_t> ne, const std::string& hf, bool optional = false,
                       int64_t permute = 0) {
            x.push_back({b + g, std::move(ne), h + hf, optional, permute, 0});
        };
        add("attn_norm.weight", {E}, "input_layernorm.weight");
        if (c.is_mla()) {
            const int64_t H = c.n_head, dk = c.qk_nope_head_dim + c.qk_rope_head_dim;
            if (c.q_lora_rank > 0) {
                add("attn_q_a.weight", {E, c.q_lora_rank}, "self_attn.q_a_proj.weight");
                add("attn_q_a_norm.weight", {c.q_lora_rank}, "self_attn.q_a_layernorm.weight");
                add("attn_q_b.weight", {c.q_lora_rank, H * dk}, "self_attn.q_b_proj.weight");
            } else {
                add("attn_q.weight", {E, H * dk}, "self_attn.q_proj.weight");
            }
            add("attn_kv_a_mqa.weight", {E, c.kv_lora_rank + c.qk_rope_head_dim},
                "self_attn.kv_a_proj_with_mqa.weight");
            add("attn_kv_a_norm.weight", {c.kv_lora_rank}, "self_attn.kv_a_layernorm.weight");
            add("attn_kv_b.weight", {c.kv_lora_rank, H * (c.qk_nope_head_dim + c.v_head_dim)},
                "self_attn.kv_b_proj.weight");
            add("attn_output.weight", {H * c.v_head_dim, E}, "self_attn.o_proj.weight");
        } else {
            const int64_t q = c.n_head * c.head_dim, kv = c.n_head_kv * c.head_dim;
            const int64_t pq = c.permute_qk() ? c.n_head : 0, pk = c.permute_qk() ? c.n_head_kv : 0;
            const bool bias_required = c.arch == HfArch::Qwen2;
            add("attn_q.weight", {E, q}, "self_attn.q_proj.weight", false, pq);
            add("attn_q.bias", {q}, "self_attn.q_proj.bias", !bias_required, pq);
            add("attn_k.weight", {E, kv}, "self_attn.k_proj.weight", false, pk);
            add("attn_k.bias", {kv}, "self_attn.k_proj.bias", !bias_required, pk);
            add("attn_v.weight", {E, kv}, "self_attn.v_proj.weight");
            add("attn_v.bias", {kv}, "self_attn.v_proj.bias", !bias_required);
            add("attn_output.weight", {q, E}, "self_attn.o_proj.weight");
            add("attn_output.bias", {E}, "self_attn.o_proj.bias", true);
        }
        add("ffn_norm.weight", {E}, "post_attention_layernorm.weight");
        if (c.is_moe_layer(il)) {
            const int64_t X = c.n_routed_experts, F = c.moe_intermediate_size, S = F * c.n_shared_experts;
            add("ffn_gate_inp.weight", {E, X}, "mlp.gate.weight");
            add("exp_probs_b.bias", {X}, "mlp.gate.e_score_correction_bias", c.arch != HfArch::DeepseekV3);
            x.push_back({b + "ffn_gate_exps.weight", {E, F, X}, h + "mlp.experts.{e}.gate_proj.weight", false, 0, X});
            x.push_back({b + "ffn_up_exps.weight", {E, F, X}, h + "mlp.experts.{e}.up_proj.weight", false, 0, X});
            x.push_back({b + "ffn_down_exps.weight", {F, E, X}, h + "mlp.experts.{e}.down_proj.weight", false, 0, X});
            if (S > 0) {
                add("ffn_gate_shexp.weight", {E, S}, "mlp.shared_experts.gate_proj.weight");
                add("ffn_up_shexp.weight", {E, S}, "mlp.shared_experts.up_proj.weight");
                add("ffn_down_shexp.weight", {S, E}, "mlp.shared_experts.down_proj.weight");
            }
        } else {
            add("ffn_gate.weight", {E, c.intermediate_size}, "mlp.gate_proj.weight");
            add("ffn_up.weight", {E, c.intermediate_size}, "mlp.up_proj.weight");
            add("ffn_down.weight", {c.intermediate_size, E}, "mlp.down_proj.weight");
        }
    }
    x.push_back({"output_norm.weight", {E}, "model.norm.weight"});
    if (has_lm_head || !c.tie_word_embeddings) x.push_back({"output.weight", {E, V}, "lm_head.weight"});
    return x;
}

// Checkpoint tensors the conversion leaves out on purpose.
bool skipped(const HfConfig& c, const std::string& name) {
    if (name.find("rotary_emb.inv_freq") != std::string::npos) return true;  // recomputed from the config
    if (starts_with(name, "model.layers.")) {
        size_t end = 0;
        const int64_t il = parse_index(name, 13, end);
        return il >= c.n_layer;  // MTP (next-token prediction) layers, as convert_hf_to_gguf.py skips them
    }
    return false;
}

void check_fp8_scale(const HfConfig& c, const HfWeights::Ref& w, const HfWeights::Ref& s) {
    const StTensor& t = *w.tensor;
    const StTensor& st = *s.tensor;
    if (t.shape.size() != 2)
        throw Error(w.file->path() + ": FP8 tensor '" + t.name + "' has shape " + shape_str(t.shape) +
                    " (expected 2-D)");
    const std::vector<int64_t> want = {(t.shape[0] + c.fp8_block_rows - 1) / c.fp8_block_rows,
                                       (t.shape[1] + c.fp8_block_cols - 1) / c.fp8_block_cols};
    if (st.shape != want)
        throw Error(s.file->path() + ": tensor '" + st.name + "' has shape " + shape_str(st.shape) + ", expected " +
                    shape_str(want) + " (weight " + shape_str(t.shape) + " in " + std::to_string(c.fp8_block_rows) +
                    "x" + std::to_string(c.fp8_block_cols) + " blocks)");
    if (st.dtype != StDType::F32 && st.dtype != StDType::BF16 && st.dtype != StDType::F16)
        throw Error(s.file->path() + ": tensor '" + st.name + "' has dtype " + std::string(st_dtype_name(st.dtype)) +
                    " (expected F32, BF16 or F16 scales)");
}

}  // namespace

HfWeights HfWeights::open(const std::string& dir_str) {
    const fs::path dir(dir_str);
    if (!fs::is_directory(dir)) throw Error(dir_str + ": not a directory");
    HfWeights w;
    std::vector<std::string> names;
    nlohmann::json weight_map;
    const fs::path index = dir / "model.safetensors.index.json";
    if (fs::exists(index)) {
        nlohmann::json j;
        try {
            j = nlohmann::json::parse(read_text(index));
        } catch (const nlohmann::json::exception& e) {
            throw Error(index.string() + ": not valid JSON: " + e.what());
        }
        if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
            throw Error(index.string() + ": missing \"weight_map\" object");
        weight_map = j["weight_map"];
        std::set<std::string> unique;
        for (const auto& [tensor, file] : weight_map.items()) {
            if (!file.is_string())
                throw Error(index.string() + ": weight_map entry of '" + tensor + "' is not a file name");
            const std::string f = file.get<std::string>();
            if (f.empty() || f.find('/') != std::string::npos || f.find('\\') != std::string::npos || f == "..")
                throw Error(index.string() + ": weight_map entry of '" + tensor + "' names an unsafe file '" + f + "'");
            if (unique.insert(f).second) names.push_back(f);
        }
        std::sort(names.begin(), names.end());
    } else if (fs::exists(dir / "model.safetensors")) {
        names.push_back("model.safetensors");
    } else {
        for (const auto& e : fs::directory_iterator(dir))
            if (e.is_regular_file() && e.path().extension() == ".safetensors")
                names.push_back(e.path().filename().string());
        std::sort(names.begin(), names.end());
    }
    if (names.empty()) throw Error(dir_str + ": no safetensors files (model.safetensors or an index)");

    for (const std::string& n : names) {
        w.files_.push_back(SafetensorsFile::open((dir / n).string()));
        const SafetensorsFile* f = w.files_.back().get();
        for (const StTensor& t : f->tensors()) {
            const auto [it, fresh] = w.by_name_.emplace(t.name, Ref{f, &t});
            if (!fresh) throw Error(f->path() + ": tensor '" + t.name + "' is also in " + it->second.file->path());
            if (!weight_map.is_null()) {
                const auto m = weight_map.find(t.name);
                if (m == weight_map.end() || m->get<std::string>() != n)
                    throw Error(f->path() + ": tensor '" + t.name + "' is not listed for this file in " +
                                index.string());
            }
        }
    }
    if (!weight_map.is_null())
        for (const auto& [tensor, file] : weight_map.items())
            if (!w.by_name_.count(tensor))
                throw Error(index.string() + ": tensor '" + tensor + "' is listed in " + file.get<std::string>() +
                            ", which does not hold it");
    return w;
}

const HfWeights::Ref* HfWeights::find(const std::string& name) const {
    const auto it = by_name_.find(name);
    return it == by_name_.end() ? nullptr : &it->second;
}

int64_t permuted_row(int64_t r, int64_t rows, int64_t n_head) {
    const int64_t d = rows / n_head, h = r / d, rem = r % d;
    return h * d + (rem % 2) * (d / 2) + rem / 2;
}

std::vector<PlannedTensor> plan_tensors(const HfConfig& c, const HfWeights& w) {
    const std::vector<Expected> expected = expected_tensors(c, w.find("lm_head.weight") != nullptr);

    std::set<std::string> used;
    auto take = [&](const std::string& name) -> const HfWeights::Ref* {
        const HfWeights::Ref* r = w.find(name);
        if (r) used.insert(name);
        return r;
    };
    auto make_part = [&](const HfWeights::Ref& ref) {
        SourcePart p{ref, std::nullopt};
        const StTensor& t = *ref.tensor;
        if (!float_dtype(t.dtype))
            throw Error(ref.file->path() + ": tensor '" + t.name + "' has dtype " +
                        std::string(st_dtype_name(t.dtype)) + ", which is not a floating-point weight type");
        if (t.dtype == StDType::F8_E4M3) {
            const HfWeights::Ref* s = take(t.name + "_scale_inv");
            if (!s) throw Error(ref.file->path() + ": FP8 tensor '" + t.name + "' has no '" + t.name + "_scale_inv'");
            check_fp8_scale(c, ref, *s);
            p.scale = *s;
        }
        return p;
    };

    std::vector<PlannedTensor> plan;
    for (const Expected& e : expected) {
        PlannedTensor pt;
        pt.name = e.gguf;
        pt.ne = e.ne;
        pt.permute_heads = e.permute;
        // HF shape of one part: the GGUF ne of one matrix, reversed.
        std::vector<int64_t> hf_shape(e.ne.begin(), e.ne.begin() + (e.n_expert ? 2 : std::ptrdiff_t(e.ne.size())));
        std::reverse(hf_shape.begin(), hf_shape.end());
        const int64_t n_parts = e.n_expert ? e.n_expert : 1;
        for (int64_t x = 0; x < n_parts; ++x) {
            std::string hf = e.hf;
            if (e.n_expert) hf.replace(hf.find("{e}"), 3, std::to_string(x));
            const HfWeights::Ref* ref = take(hf);
            if (!ref) {
                if (e.optional && x == 0) break;
                throw Error("checkpoint has no tensor '" + hf + "' (needed for GGUF tensor " + e.gguf + " of " +
                            c.architecture + ")");
            }
            if (ref->tensor->shape != hf_shape)
                throw Error(ref->file->path() + ": tensor '" + hf + "' has shape " + shape_str(ref->tensor->shape) +
                            ", expected " + shape_str(hf_shape) + " from config.json");
            pt.parts.push_back(make_part(*ref));
        }
        if (pt.parts.empty()) continue;
        if (pt.permute_heads) {
            const int64_t rows = pt.permuted_length();
            if (rows % pt.permute_heads != 0 || (rows / pt.permute_heads) % 2 != 0)
                throw Error("tensor " + pt.name + ": " + std::to_string(rows) + " rows do not split into " +
                            std::to_string(pt.permute_heads) + " heads of even size");
        }
        plan.push_back(std::move(pt));
    }

    for (const auto& [name, ref] : w.tensors()) {
        if (used.count(name) || skipped(c, name)) continue;
        throw Error(ref.file->path() + ": unexpected tensor '" + name + "' for " + c.architecture +
                    (ends_with(name, "_scale_inv") ? " (a scale without an FP8 weight)" : ""));
    }
    return plan;
}

int64_t part_cols(const StTensor& t) { return t.shape.size() >= 2 ? t.shape.back() : t.n_elements(); }

void decode_rows(const HfConfig& c, const SourcePart& part, const uint8_t* raw, const std::vector<float>& scales,
                 int64_t r0, int64_t n, float* out) {
    const StTensor& t = *part.weight.tensor;
    const int64_t cols = part_cols(t);
    decode_values(t.dtype, raw, n * cols, out);
    if (!part.scale) return;
    const int64_t scale_cols = (cols + c.fp8_block_cols - 1) / c.fp8_block_cols;
    for (int64_t r = 0; r < n; ++r) {
        const float* s = scales.data() + ((r0 + r) / c.fp8_block_rows) * scale_cols;
        float* row = out + r * cols;
        for (int64_t j = 0; j < cols; ++j) row[j] *= s[j / c.fp8_block_cols];
    }
}

}  // namespace dsm::convert
