#include "convert/converter.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "convert/hf_config.hpp"
#include "convert/hf_tensors.hpp"
#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "formats/gguf_writer.hpp"
#include "quantize/quantize_model.hpp"
#include "quantize/recipe.hpp"
#include "tokenizer/tokenizer.hpp"

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

// generation_config.json's bos/eos ids (the first, if a list), as a fallback.
void read_generation_config(const fs::path& p, HfConfig& c) {
    if (!fs::exists(p)) return;
    nlohmann::json j;
    try {
        j = nlohmann::json::parse(read_text(p));
    } catch (const nlohmann::json::exception& e) {
        throw Error(p.string() + ": not valid JSON: " + e.what());
    }
    auto id = [&](const char* key) -> std::optional<int64_t> {
        if (!j.is_object() || !j.contains(key)) return std::nullopt;
        const auto& v = j[key];
        if (v.is_number_integer()) return v.get<int64_t>();
        if (v.is_array() && !v.empty() && v[0].is_number_integer()) return v[0].get<int64_t>();
        return std::nullopt;
    };
    if (!c.bos_token_id) c.bos_token_id = id("bos_token_id");
    if (!c.eos_token_id) c.eos_token_id = id("eos_token_id");
}

// tokenizer.ggml.* as llama.cpp's converter writes them, padded to the embedding rows.
void write_tokenizer(gguf::Writer& w, VocabSpec spec, const HfConfig& c) {
    const size_t n_vocab = size_t(c.vocab_size);
    if (spec.tokens.size() > n_vocab)
        throw Error("tokenizer has " + std::to_string(spec.tokens.size()) +
                    " tokens, but config.json's vocab_size is " + std::to_string(n_vocab));
    for (size_t i = spec.tokens.size(); i < n_vocab; ++i) {
        spec.tokens.push_back("[PAD" + std::to_string(i) + "]");
        spec.token_types.push_back(Tokenizer::kUnused);
        if (!spec.scores.empty()) spec.scores.push_back(-1000.0f);
    }
    if (spec.bos < 0 && c.bos_token_id && *c.bos_token_id < int64_t(n_vocab)) spec.bos = int32_t(*c.bos_token_id);
    if (spec.eos < 0 && c.eos_token_id && *c.eos_token_id < int64_t(n_vocab)) spec.eos = int32_t(*c.eos_token_id);

    w.set_string("tokenizer.ggml.model", spec.model);
    if (!spec.pre.empty()) w.set_string("tokenizer.ggml.pre", spec.pre);
    w.set_strings("tokenizer.ggml.tokens", spec.tokens);
    if (!spec.scores.empty()) w.set_f32s("tokenizer.ggml.scores", spec.scores);
    w.set_i32s("tokenizer.ggml.token_type", spec.token_types);
    if (!spec.merges.empty()) w.set_strings("tokenizer.ggml.merges", spec.merges);
    auto id = [&](const char* key, int32_t v) {
        if (v >= 0) w.set_u32(std::string("tokenizer.ggml.") + key, uint32_t(v));
    };
    id("bos_token_id", spec.bos);
    id("eos_token_id", spec.eos);
    id("eot_token_id", spec.eot);
    id("unknown_token_id", spec.unk);
    id("padding_token_id", spec.pad);
    if (spec.add_bos) w.set_bool("tokenizer.ggml.add_bos_token", *spec.add_bos);
    if (spec.add_eos) w.set_bool("tokenizer.ggml.add_eos_token", *spec.add_eos);
    if (spec.add_space_prefix) w.set_bool("tokenizer.ggml.add_space_prefix", *spec.add_space_prefix);
    if (!spec.chat_template.empty()) w.set_string("tokenizer.chat_template", spec.chat_template);
}

// Source bytes read at a time: peak memory stays near the output tensor's size.
constexpr size_t kSlabBytes = size_t(8) << 20;

// Produces one GGUF tensor from its checkpoint parts, row by row on the pool.
void produce(const HfConfig& c, const PlannedTensor& t, DType type, ThreadPool& pool, uint8_t* out) {
    const int64_t cols = t.cols(), rows = t.rows_per_part();
    const size_t out_rb = row_bytes(type, cols);
    std::vector<uint8_t> raw;
    for (size_t p = 0; p < t.parts.size(); ++p) {
        const SourcePart& part = t.parts[p];
        const StTensor& src_t = *part.weight.tensor;
        std::vector<float> scales;
        if (part.scale) {
            const StTensor& st = *part.scale->tensor;
            const std::vector<uint8_t> sraw = part.scale->file->read_all(st);
            scales.resize(size_t(st.n_elements()));
            decode_rows(c, SourcePart{*part.scale, std::nullopt}, sraw.data(), {}, 0, st.shape[0], scales.data());
        }
        uint8_t* dst = out + p * size_t(rows) * out_rb;
        if (t.ne.size() == 1) {  // a vector: permute elements (q/k biases), never quantized
            raw = part.weight.file->read_all(src_t);
            std::vector<float> v(static_cast<size_t>(cols)), o(static_cast<size_t>(cols));
            decode_rows(c, part, raw.data(), scales, 0, 1, v.data());
            for (int64_t i = 0; i < cols; ++i)
                o[size_t(i)] = v[size_t(t.permute_heads ? permuted_row(i, cols, t.permute_heads) : i)];
            quantize::encode_row(type, o.data(), dst, cols, nullptr);
            continue;
        }
        // Slabs of source rows; a permuted matrix (q/k, small) is read whole.
        const size_t src_rb = size_t(cols) * st_dtype_size(src_t.dtype);
        const int64_t slab = t.permute_heads ? rows : std::max<int64_t>(1, int64_t(kSlabBytes / src_rb));
        for (int64_t s0 = 0; s0 < rows; s0 += slab) {
            const int64_t s1 = std::min(rows, s0 + slab);
            raw.resize(size_t(s1 - s0) * src_rb);
            part.weight.file->read(src_t, uint64_t(s0) * src_rb, raw.data(), raw.size());
            const int64_t per_task = std::max<int64_t>(1, 65536 / cols);
            pool.parallel_for((s1 - s0 + per_task - 1) / per_task, [&](int64_t task, int) {
                std::vector<float> row(static_cast<size_t>(cols));
                for (int64_t r = s0 + task * per_task; r < std::min(s1, s0 + (task + 1) * per_task); ++r) {
                    const int64_t src = t.permute_heads ? permuted_row(r, rows, t.permute_heads) : r;
                    decode_rows(c, part, raw.data() + size_t(src - s0) * src_rb, scales, src, 1, row.data());
                    quantize::encode_row(type, row.data(), dst + size_t(r) * out_rb, cols, nullptr);
                }
            });
        }
    }
}

}  // namespace

ConvertResult convert_hf_to_gguf(const std::string& hf_dir, const std::string& out_path, const ConvertOptions& opt) {
    const auto recipe = quantize::recipe_from_name(opt.type);
    if (!recipe) throw Error("convert: unknown output type '" + opt.type + "'");
    const fs::path dir(hf_dir);
    HfConfig config = HfConfig::parse(read_text(dir / "config.json"), (dir / "config.json").string());
    read_generation_config(dir / "generation_config.json", config);

    std::optional<VocabSpec> vocab;
    if (fs::exists(dir / "tokenizer.json")) {
        const fs::path tc = dir / "tokenizer_config.json";
        vocab = Tokenizer::from_hf_files((dir / "tokenizer.json").string(), fs::exists(tc) ? tc.string() : "")
                    ->to_vocab_spec();
    } else if (opt.log) {
        opt.log("warning: " + hf_dir + " has no tokenizer.json; the GGUF will carry no tokenizer");
    }

    const HfWeights weights = HfWeights::open(hf_dir);
    const std::vector<PlannedTensor> plan = plan_tensors(config, weights);

    std::vector<quantize::TensorDesc> descs;
    for (const auto& t : plan) descs.push_back({t.name, t.ne});
    const quantize::ModelDesc md{config.gguf_arch, config.n_layer, config.n_head, config.n_head_kv,
                                 config.n_routed_experts};
    const auto types = quantize::choose_types(*recipe, md, descs, false);

    gguf::Writer w;
    std::string name = opt.name;
    if (name.empty()) name = fs::absolute(dir).lexically_normal().filename().string();
    if (name.empty()) name = fs::absolute(dir).lexically_normal().parent_path().filename().string();
    w.set_string("general.architecture", config.gguf_arch);
    w.set_string("general.name", name);
    w.set_u32("general.file_type", recipe->file_type);
    w.set_u32("general.quantization_version", 2);
    config.write_gguf_keys(w, config.vocab_size);
    if (vocab) write_tokenizer(w, *vocab, config);

    ThreadPool pool(opt.n_threads);
    ConvertResult res;
    res.architecture = config.gguf_arch;
    uint64_t total_bytes = 0;
    for (size_t i = 0; i < plan.size(); ++i) {
        const PlannedTensor& t = plan[i];
        const DType type = types[i].value_or(DType::F32);
        ++res.tensors_by_type[std::string(dtype_name(type))];
        int64_t n = 1;
        for (int64_t d : t.ne) n *= d;
        total_bytes += row_bytes(type, t.ne[0]) * size_t(n / t.ne[0]);
        w.add_tensor(t.name, type, t.ne,
                     [&config, &t, type, &pool](uint8_t* out, size_t) { produce(config, t, type, pool, out); });
    }
    res.n_tensors = plan.size();
    w.write(out_path, [&](size_t i, size_t n, uint64_t bytes) {
        if (opt.progress) opt.progress(i, n, bytes, total_bytes);
    });
    res.file_bytes = fs::file_size(out_path);
    return res;
}

}  // namespace dsm::convert
