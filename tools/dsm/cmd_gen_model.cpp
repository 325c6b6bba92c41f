// dsm gen-model: random-weight GGUF files with the exact shapes and metadata of real
// DeepSeek models, for benchmarks (speed does not depend on the weight values). The
// files carry a synthetic byte-level BPE vocabulary of the real size, so other
// engines (llama.cpp) load them too. With --hf, a Hugging Face folder (config.json +
// BF16 model.safetensors) of a dense shape instead, to measure `dsm convert` at size.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "commands.hpp"
#include "core/fp16.hpp"
#include "formats/gguf_writer.hpp"
#include "quant/blocks.hpp"
#include "quant/quant.hpp"

namespace dsm::cli {
namespace {

struct Shape {
    const char* name;
    const char* arch;
    const char* pre;  // tokenizer.ggml.pre
    int64_t n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base, rms_eps;
    bool qkv_bias;
    int32_t bos, eos;
    const char* bos_text;
    const char* eos_text;
    // deepseek2 only
    int64_t q_lora = 0, kv_lora = 0, qk_nope = 0, qk_rope = 0, v_dim = 0;
    int64_t n_expert = 0, n_expert_used = 0, n_expert_shared = 0, n_ff_exp = 0, n_dense = 0;
    float linear_scale = 0;  // rope.scaling.factor for linear scaling
};

const Shape kShapes[] = {
    {"r1-distill-qwen-1.5b", "qwen2", "deepseek-r1-qwen", 151936, 1536, 28, 12, 2, 8960, 131072, 10000.f, 1e-6f, true,
     151646, 151643, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"},
    {"r1-distill-qwen-7b", "qwen2", "deepseek-r1-qwen", 152064, 3584, 28, 28, 4, 18944, 131072, 10000.f, 1e-6f, true,
     151646, 151643, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"},
    {"deepseek-llm-7b", "llama", "deepseek-llm", 102400, 4096, 30, 32, 32, 11008, 4096, 10000.f, 1e-6f, false, 100000,
     100001, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"},
    {"deepseek-coder-1.3b", "llama", "deepseek-coder", 32256, 2048, 24, 16, 16, 5504, 16384, 100000.f, 1e-6f, false,
     32013, 32014, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4.0f},
    {"deepseek-v2-lite", "deepseek2", "deepseek-llm", 102400, 2048, 27, 16, 16, 10944, 163840, 10000.f, 1e-6f, false,
     100000, 100001, "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", 0, 512, 128, 64, 128, 64, 6, 2, 1408, 1},
};

const Shape* find_shape(const std::string& name) {
    for (const Shape& s : kShapes)
        if (name == s.name) return &s;
    return nullptr;
}

// GPT-2 byte-to-unicode alphabet, as UTF-8 strings.
std::vector<std::string> byte_alphabet() {
    std::vector<std::string> out(256);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
        const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
        const uint32_t cp = printable ? uint32_t(b) : uint32_t(256 + extra++);
        std::string s;
        if (cp < 0x80) s += char(cp);
        else { s += char(0xC0 | (cp >> 6)); s += char(0x80 | (cp & 0x3F)); }
        out[size_t(b)] = s;
    }
    return out;
}

// A byte-level BPE vocabulary of n tokens: the 256 byte symbols, then every pair of
// printable ASCII letters, then triples, each with the merge that builds it.
void synthetic_vocab(const Shape& s, gguf::Writer& w) {
    std::vector<std::string> tokens = byte_alphabet(), merges;
    std::vector<int32_t> types(256, 1);
    const std::string alpha = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    std::vector<std::string> level = {""};
    for (int len = 1; int64_t(tokens.size()) < s.n_vocab; ++len) {
        std::vector<std::string> next;
        for (const std::string& prefix : level)
            for (char c : alpha) {
                std::string t = prefix + c;
                next.push_back(t);
                if (len >= 2 && int64_t(tokens.size()) < s.n_vocab) {
                    tokens.push_back(t);
                    types.push_back(1);
                    merges.push_back(prefix + " " + std::string(1, c));
                }
            }
        level = std::move(next);
    }
    auto special = [&](int32_t id, const char* text) {
        tokens[size_t(id)] = text;
        types[size_t(id)] = 3;
    };
    special(s.bos, s.bos_text);
    special(s.eos, s.eos_text);
    // Merges must only name tokens that still exist.
    std::erase_if(merges, [&](const std::string& m) {
        const std::string joined = m.substr(0, m.find(' ')) + m.substr(m.find(' ') + 1);
        return joined == s.bos_text || joined == s.eos_text;
    });
    w.set_string("tokenizer.ggml.model", "gpt2");
    w.set_string("tokenizer.ggml.pre", s.pre);
    w.set_strings("tokenizer.ggml.tokens", tokens);
    w.set_i32s("tokenizer.ggml.token_type", types);
    w.set_strings("tokenizer.ggml.merges", merges);
    w.set_u32("tokenizer.ggml.bos_token_id", uint32_t(s.bos));
    w.set_u32("tokenizer.ggml.eos_token_id", uint32_t(s.eos));
    w.set_bool("tokenizer.ggml.add_bos_token", true);
}

// splitmix64 step: random bits at memory speed.
uint64_t splitmix(uint64_t& state) {
    uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Random weights: floats N(0, 0.02^2) for plain types; for block types, random
// quant bytes with realistic scales (what a quantizer would produce for such data).
gguf::Writer::DataFn random_tensor(DType type, uint64_t seed, bool is_norm) {
    return [=](uint8_t* out, size_t bytes) {
        std::mt19937_64 rng(seed);
        if (!info(type).quantized) {
            std::normal_distribution<float> nd(is_norm ? 1.0f : 0.0f, 0.02f);
            const size_t n = bytes / info(type).block_bytes;
            for (size_t i = 0; i < n; ++i) {
                const float v = nd(rng);
                if (type == DType::F32) std::memcpy(out + 4 * i, &v, 4);
                else {
                    const uint16_t h = type == DType::F16 ? f32_to_fp16(v) : f32_to_bf16(v);
                    std::memcpy(out + 2 * i, &h, 2);
                }
            }
            return;
        }
        // splitmix64: random bytes at memory speed (mt19937 would take minutes on 10 GB).
        uint64_t state = seed;
        for (size_t i = 0; i + 8 <= bytes; i += 8) {
            const uint64_t z = splitmix(state);
            std::memcpy(out + i, &z, 8);
        }
        // Overwrite each block's fp16 scale fields with small positive values.
        const size_t bb = info(type).block_bytes;
        const uint16_t d = f32_to_fp16(0.002f), dmin = f32_to_fp16(0.001f);
        for (size_t b = 0; b + bb <= bytes; b += bb) {
            uint8_t* blk = out + b;
            switch (type) {
                case DType::Q4_0: case DType::Q5_0: case DType::Q8_0: std::memcpy(blk, &d, 2); break;
                case DType::Q4_1: case DType::Q5_1: case DType::Q4_K: case DType::Q5_K:
                    std::memcpy(blk, &d, 2);
                    std::memcpy(blk + 2, &dmin, 2);
                    break;
                case DType::Q2_K: std::memcpy(blk + bb - 4, &d, 2); std::memcpy(blk + bb - 2, &dmin, 2); break;
                case DType::Q3_K: case DType::Q6_K: std::memcpy(blk + bb - 2, &d, 2); break;
                default: break;
            }
        }
    };
}

// A Hugging Face checkpoint of a llama / qwen2 shape: config.json and one BF16
// model.safetensors with the transformers tensor names, values uniform in
// [-0.04, 0.04) (norms 1). Written tensor by tensor in 8 MiB pieces.
void write_hf_checkpoint(const Shape& s, const std::string& dir, uint64_t seed) {
    const std::string arch = s.arch;
    if (arch != "llama" && arch != "qwen2")
        throw Error("--hf writes dense llama / qwen2 shapes only; '" + std::string(s.name) + "' is " + arch);
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    const int64_t E = s.n_embd, hd = E / s.n_head, F = s.n_ff;
    nlohmann::ordered_json cfg = {
        {"architectures", {arch == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"}},
        {"model_type", arch}, {"hidden_size", E}, {"intermediate_size", F}, {"num_attention_heads", s.n_head},
        {"num_hidden_layers", s.n_layer}, {"num_key_value_heads", s.n_head_kv}, {"rms_norm_eps", s.rms_eps},
        {"rope_theta", s.rope_base}, {"vocab_size", s.n_vocab}, {"max_position_embeddings", s.n_ctx},
        {"tie_word_embeddings", false}, {"hidden_act", "silu"}, {"torch_dtype", "bfloat16"},
        {"bos_token_id", s.bos}, {"eos_token_id", s.eos}};
    if (s.linear_scale > 0) cfg["rope_scaling"] = {{"type", "linear"}, {"factor", s.linear_scale}};
    std::ofstream(fs::path(dir) / "config.json") << cfg.dump(2) << "\n";

    struct T {
        std::string name;
        std::vector<int64_t> shape;  // PyTorch order: [out, in]
    };
    std::vector<T> ts = {{"model.embed_tokens.weight", {s.n_vocab, E}}, {"model.norm.weight", {E}},
                         {"lm_head.weight", {s.n_vocab, E}}};
    for (int64_t il = 0; il < s.n_layer; ++il) {
        const std::string p = "model.layers." + std::to_string(il) + ".";
        ts.push_back({p + "input_layernorm.weight", {E}});
        ts.push_back({p + "post_attention_layernorm.weight", {E}});
        for (const char* m : {"q", "k", "v"}) {
            const int64_t rows = (m[0] == 'q' ? s.n_head : s.n_head_kv) * hd;
            ts.push_back({p + "self_attn." + m + "_proj.weight", {rows, E}});
            if (s.qkv_bias) ts.push_back({p + "self_attn." + m + "_proj.bias", {rows}});
        }
        ts.push_back({p + "self_attn.o_proj.weight", {E, s.n_head * hd}});
        ts.push_back({p + "mlp.gate_proj.weight", {F, E}});
        ts.push_back({p + "mlp.up_proj.weight", {F, E}});
        ts.push_back({p + "mlp.down_proj.weight", {E, F}});
    }
    nlohmann::ordered_json header = {{"__metadata__", {{"format", "pt"}}}};
    uint64_t offset = 0;
    for (const T& t : ts) {
        uint64_t n = 2;
        for (int64_t d : t.shape) n *= uint64_t(d);
        header[t.name] = {{"dtype", "BF16"}, {"shape", t.shape}, {"data_offsets", {offset, offset + n}}};
        offset += n;
    }
    std::string h = header.dump();
    h.resize((h.size() + 7) / 8 * 8, ' ');
    std::ofstream out(fs::path(dir) / "model.safetensors", std::ios::binary);
    const uint64_t hlen = h.size();
    out.write(reinterpret_cast<const char*>(&hlen), 8);
    out.write(h.data(), std::streamsize(h.size()));
    std::vector<uint16_t> buf(size_t(4) << 20);
    uint64_t state = seed, written = 0;
    for (size_t i = 0; i < ts.size(); ++i) {
        const bool norm = ts[i].name.find("norm") != std::string::npos;
        uint64_t n = 1;
        for (int64_t d : ts[i].shape) n *= uint64_t(d);
        for (uint64_t done = 0; done < n;) {
            const size_t m = size_t(std::min<uint64_t>(buf.size(), n - done));
            for (size_t k = 0; k < m; ++k)
                buf[k] = f32_to_bf16(norm ? 1.0f : (float(splitmix(state) >> 40) * 0x1p-24f - 0.5f) * 0.08f);
            out.write(reinterpret_cast<const char*>(buf.data()), std::streamsize(m * 2));
            done += m;
        }
        written += 2 * n;
        std::fprintf(stderr, "\r[%zu/%zu tensors] %s", i + 1, ts.size(), human_bytes(double(written)).c_str());
    }
    if (!out) throw Error("writing " + dir + "/model.safetensors failed");
    std::fprintf(stderr, "\nwrote %s (config.json, model.safetensors)\n", dir.c_str());
}

}  // namespace

int cmd_gen_model(int argc, char** argv) {
    CLI::App app{"Write a random-weight GGUF with the exact shapes of a real DeepSeek model", "dsm gen-model"};
    std::string shape_name, type_name = "q4_0", out;
    uint64_t seed = 1;
    int layers = 0;
    app.add_option("--shape", shape_name, "r1-distill-qwen-1.5b | r1-distill-qwen-7b | deepseek-llm-7b | "
                                          "deepseek-coder-1.3b | deepseek-v2-lite")->required();
    app.add_option("--type", type_name, "f32 | f16 | bf16 | q8_0 | q4_0 | q4_k_m | q4_k | q5_k | q6_k")->capture_default_str();
    app.add_option("-o,--output", out, "output GGUF file")->required();
    app.add_option("--seed", seed, "random seed")->capture_default_str();
    app.add_option("--layers", layers, "override the layer count (for quick tests)");
    bool hf = false;
    app.add_flag("--hf", hf, "write a Hugging Face folder (config.json + BF16 model.safetensors) named by -o "
                             "instead of a GGUF (llama and qwen2 shapes; --type is ignored)");
    CLI11_PARSE(app, argc, argv);

    const Shape* sp = find_shape(shape_name);
    if (!sp) throw Error("unknown shape '" + shape_name + "'");
    Shape s = *sp;
    if (layers > 0) s.n_layer = layers;
    if (hf) {
        write_hf_checkpoint(s, out, seed);
        return 0;
    }
    // q4_k_m as llama-quantize makes it: Q4_K, with Q6_K for the output, attn_v and
    // ffn_down of some layers (here: every other), embeddings Q4_K.
    const bool k_m = type_name == "q4_k_m";
    const auto base = k_m ? std::optional<DType>(DType::Q4_K) : dtype_from_name(type_name);
    if (!base) throw Error("unknown type '" + type_name + "'");
    auto mat_type = [&](const std::string& name, int64_t cols, int il) {
        DType t = *base;
        if (k_m && (name == "output" || ((name == "attn_v" || name == "ffn_down" || name == "ffn_down_exps") && il % 2 == 0)))
            t = DType::Q6_K;
        if (cols % info(t).block_size != 0) {
            // llama-quantize's fallbacks when a row is not a multiple of 256.
            switch (t) {
                case DType::Q4_K: t = DType::Q5_0; break;
                case DType::Q5_K: t = DType::Q5_1; break;
                case DType::Q6_K: t = DType::Q8_0; break;
                case DType::Q2_K: case DType::Q3_K: t = DType::Q4_0; break;
                default: break;
            }
            if (cols % info(t).block_size != 0) t = DType::F16;
        }
        return t;
    };

    gguf::Writer w;
    const std::string a = s.arch;
    w.set_string("general.architecture", a);
    w.set_string("general.name", std::string(s.name) + " (random weights, dsm gen-model)");
    w.set_u32(a + ".context_length", uint32_t(s.n_ctx));
    w.set_u32(a + ".embedding_length", uint32_t(s.n_embd));
    w.set_u32(a + ".block_count", uint32_t(s.n_layer));
    w.set_u32(a + ".feed_forward_length", uint32_t(s.n_ff));
    w.set_u32(a + ".attention.head_count", uint32_t(s.n_head));
    w.set_u32(a + ".attention.head_count_kv", uint32_t(s.n_head_kv));
    w.set_f32(a + ".rope.freq_base", s.rope_base);
    w.set_f32(a + ".attention.layer_norm_rms_epsilon", s.rms_eps);
    w.set_u32(a + ".vocab_size", uint32_t(s.n_vocab));
    const bool mla = a == "deepseek2";
    const int64_t hd = s.n_embd / s.n_head;
    if (!mla) w.set_u32(a + ".rope.dimension_count", uint32_t(hd));
    if (s.linear_scale > 0) {
        w.set_string(a + ".rope.scaling.type", "linear");
        w.set_f32(a + ".rope.scaling.factor", s.linear_scale);
    }
    if (mla) {
        w.set_u32(a + ".leading_dense_block_count", uint32_t(s.n_dense));
        w.set_u32(a + ".attention.kv_lora_rank", uint32_t(s.kv_lora));
        w.set_u32(a + ".attention.key_length", uint32_t(s.qk_nope + s.qk_rope));
        w.set_u32(a + ".attention.value_length", uint32_t(s.v_dim));
        w.set_u32(a + ".rope.dimension_count", uint32_t(s.qk_rope));
        w.set_u32(a + ".expert_feed_forward_length", uint32_t(s.n_ff_exp));
        w.set_u32(a + ".expert_count", uint32_t(s.n_expert));
        w.set_u32(a + ".expert_used_count", uint32_t(s.n_expert_used));
        w.set_u32(a + ".expert_shared_count", uint32_t(s.n_expert_shared));
        w.set_f32(a + ".expert_weights_scale", 1.0f);
        w.set_bool(a + ".expert_weights_norm", false);
        w.set_u32(a + ".expert_gating_func", 1);
        w.set_string(a + ".rope.scaling.type", "yarn");
        w.set_f32(a + ".rope.scaling.factor", 40.0f);
        w.set_u32(a + ".rope.scaling.original_context_length", 4096);
        w.set_f32(a + ".rope.scaling.yarn_log_multiplier", 0.0707f);
    }
    synthetic_vocab(s, w);

    uint64_t tseed = seed * 1000003;
    auto add = [&](const std::string& name, DType t, std::vector<int64_t> ne) {
        w.add_tensor(name, t, std::move(ne), random_tensor(t, ++tseed, name.find("norm") != std::string::npos));
    };
    const int64_t E = s.n_embd;
    add("token_embd.weight", mat_type("token_embd", E, 0), {E, s.n_vocab});
    add("output_norm.weight", DType::F32, {E});
    add("output.weight", k_m ? mat_type("output", E, 0) : *base == DType::Q4_0 ? DType::Q6_K : *base, {E, s.n_vocab});
    for (int il = 0; il < s.n_layer; ++il) {
        const std::string p = "blk." + std::to_string(il) + ".";
        add(p + "attn_norm.weight", DType::F32, {E});
        add(p + "ffn_norm.weight", DType::F32, {E});
        if (mla) {
            const int64_t H = s.n_head, dk = s.qk_nope + s.qk_rope;
            add(p + "attn_q.weight", mat_type("attn_q", E, il), {E, H * dk});
            add(p + "attn_kv_a_mqa.weight", mat_type("attn_kv_a_mqa", E, il), {E, s.kv_lora + s.qk_rope});
            add(p + "attn_kv_a_norm.weight", DType::F32, {s.kv_lora});
            add(p + "attn_kv_b.weight", mat_type("attn_kv_b", s.kv_lora, il), {s.kv_lora, H * (s.qk_nope + s.v_dim)});
            add(p + "attn_output.weight", mat_type("attn_output", H * s.v_dim, il), {H * s.v_dim, E});
        } else {
            add(p + "attn_q.weight", mat_type("attn_q", E, il), {E, s.n_head * hd});
            add(p + "attn_k.weight", mat_type("attn_k", E, il), {E, s.n_head_kv * hd});
            add(p + "attn_v.weight", mat_type("attn_v", E, il), {E, s.n_head_kv * hd});
            add(p + "attn_output.weight", mat_type("attn_output", s.n_head * hd, il), {s.n_head * hd, E});
            if (s.qkv_bias) {
                add(p + "attn_q.bias", DType::F32, {s.n_head * hd});
                add(p + "attn_k.bias", DType::F32, {s.n_head_kv * hd});
                add(p + "attn_v.bias", DType::F32, {s.n_head_kv * hd});
            }
        }
        if (mla && il >= s.n_dense) {
            const int64_t X = s.n_expert, F = s.n_ff_exp, S = F * s.n_expert_shared;
            add(p + "ffn_gate_inp.weight", DType::F32, {E, X});
            add(p + "ffn_gate_exps.weight", mat_type("ffn_gate_exps", E, il), {E, F, X});
            add(p + "ffn_up_exps.weight", mat_type("ffn_up_exps", E, il), {E, F, X});
            add(p + "ffn_down_exps.weight", mat_type("ffn_down_exps", F, il), {F, E, X});
            add(p + "ffn_gate_shexp.weight", mat_type("ffn_gate_shexp", E, il), {E, S});
            add(p + "ffn_up_shexp.weight", mat_type("ffn_up_shexp", E, il), {E, S});
            add(p + "ffn_down_shexp.weight", mat_type("ffn_down_shexp", S, il), {S, E});
        } else {
            add(p + "ffn_gate.weight", mat_type("ffn_gate", E, il), {E, s.n_ff});
            add(p + "ffn_up.weight", mat_type("ffn_up", E, il), {E, s.n_ff});
            add(p + "ffn_down.weight", mat_type("ffn_down", s.n_ff, il), {s.n_ff, E});
        }
    }
    w.write(out, [&](size_t i, size_t n, uint64_t bytes) {
        std::fprintf(stderr, "\r[%zu/%zu tensors] %s", i, n, human_bytes(double(bytes)).c_str());
    });
    std::fprintf(stderr, "\nwrote %s\n", out.c_str());
    return 0;
}

}  // namespace dsm::cli
