#include "quantize/quantize_model.hpp"

#include <algorithm>
#include <cmath>
#include <memory>
#include <cstring>
#include <filesystem>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "formats/gguf.hpp"
#include "formats/gguf_writer.hpp"
#include "quant/quant.hpp"

namespace dsm::quantize {
namespace {

ModelDesc describe(const gguf::File& f) {
    ModelDesc m;
    m.arch = f.require_string("general.architecture");
    const std::string p = m.arch + ".";
    m.n_layer = f.require_int(p + "block_count");
    m.n_head = f.get_int(p + "attention.head_count").value_or(0);
    m.n_head_kv = f.get_int(p + "attention.head_count_kv").value_or(m.n_head);
    m.n_expert = f.get_int(p + "expert_count").value_or(0);
    return m;
}

std::string same_path_message(const std::string& in, const std::string& out) {
    std::error_code ec;
    if (std::filesystem::exists(out, ec) && std::filesystem::equivalent(in, out, ec))
        return "output '" + out + "' is the input file";
    return "";
}

}  // namespace

void encode_row(DType t, const float* x, void* out, int64_t n, const float* importance) {
    if (t == DType::Q8_0)
        quantize_q8_0_reference(x, out, n);
    else
        quantize_row(t, x, out, n, importance);
}

QuantizeStats quantize_gguf(const std::string& in_path, const std::string& out_path, const QuantizeOptions& opt) {
    const auto recipe = recipe_from_name(opt.recipe);
    if (!recipe) throw Error("quantize: unknown type '" + opt.recipe + "'");
    if (const std::string msg = same_path_message(in_path, out_path); !msg.empty()) throw Error("quantize: " + msg);
    const auto file = gguf::File::open(in_path);
    const ModelDesc model = describe(*file);

    // llama-quantize's order: also the order its per-layer counters run in.
    std::vector<std::string> names;
    for (const auto& t : file->tensors()) names.push_back(t.name);
    std::vector<const gguf::TensorInfo*> order;
    for (size_t i : llama_tensor_order(names)) order.push_back(&file->tensors()[i]);
    std::vector<TensorDesc> descs;
    for (const auto* t : order) descs.push_back({t->name, t->ne});
    const auto types = choose_types(*recipe, model, descs, opt.imatrix != nullptr, opt.overrides);

    gguf::Writer w;
    for (const auto& [key, v] : file->metadata()) {
        if (key == "general.alignment") {
            w.alignment = uint32_t(v.as_int());
            continue;
        }
        w.set_value(key, v);
    }
    // Set as llama-quantize does: removed and appended, quantization_version first.
    w.remove("general.quantization_version");
    w.remove("general.file_type");
    w.set_u32("general.quantization_version", 2);
    w.set_u32("general.file_type", recipe->file_type);
    if (recipe->name == "int4-int8") w.set_string("dsm.quantize.recipe", std::string(recipe->name));
    if (opt.imatrix) {
        w.set_string("quantize.imatrix.file", opt.imatrix_path);
        w.set_string("quantize.imatrix.dataset", opt.imatrix->dataset);
        w.set_i32("quantize.imatrix.entries_count", int32_t(opt.imatrix->entries.size()));
        w.set_i32("quantize.imatrix.chunks_count", opt.imatrix->chunks);
    }

    ThreadPool pool(opt.n_threads);
    QuantizeStats stats;
    stats.bytes_in = file->file_size();
    for (size_t i = 0; i < order.size(); ++i) {
        const gguf::TensorInfo& t = *order[i];
        DType type = types[i].value_or(t.type);
        if (type != t.type && !can_dequantize(t.type))
            throw Error("quantize: tensor '" + t.name + "' has type " + std::string(dtype_name(t.type)) +
                        ", which cannot be read");
        if (type != t.type && info(t.type).quantized && !opt.allow_requantize)
            throw Error("quantize: tensor '" + t.name + "' is already " + std::string(dtype_name(t.type)) +
                        "; requantizing loses accuracy (allow it with --allow-requantize)");
        ++stats.tensors_by_type[std::string(dtype_name(type))];
        if (type == t.type) {
            w.add_tensor(t.name, type, t.ne, t.data);
            continue;
        }
        const int64_t cols = t.ne[0], rows = t.rows();
        const int64_t rows_per_mat = t.ne.size() >= 2 ? t.ne[1] : 1;
        std::shared_ptr<std::vector<float>> imp_values;  // lives as long as the writer's callback
        if (opt.imatrix && t.name != "token_embd.weight") {
            const int64_t n_mat = t.ne.size() >= 3 ? t.ne[2] : 1;
            if (const float* v = opt.imatrix->find(t.name, size_t(cols * n_mat))) {
                imp_values = std::make_shared<std::vector<float>>(v, v + cols * n_mat);
                for (float& x : *imp_values) x = std::pow(std::max(x, 0.0f), opt.importance_power);
                ++stats.with_importance;
            } else if (opt.log) {
                opt.log("no importance data for " + t.name);
            }
        }
        w.add_tensor(t.name, type, t.ne, [&pool, &t, type, cols, rows, rows_per_mat, imp_values](uint8_t* out, size_t) {
            const float* importance = imp_values ? imp_values->data() : nullptr;
            const size_t in_rb = row_bytes(t.type, cols), out_rb = row_bytes(type, cols);
            // Work in batches of rows so each task is large enough to be worth scheduling.
            const int64_t per_task = std::max<int64_t>(1, 65536 / cols);
            pool.parallel_for((rows + per_task - 1) / per_task, [&](int64_t task, int) {
                std::vector<float> x(static_cast<size_t>(cols));
                const int64_t r1 = std::min(rows, (task + 1) * per_task);
                for (int64_t r = task * per_task; r < r1; ++r) {
                    const uint8_t* src = t.data + size_t(r) * in_rb;
                    const float* row = reinterpret_cast<const float*>(src);
                    if (t.type != DType::F32) {
                        dequantize_row(t.type, src, x.data(), cols);
                        row = x.data();
                    }
                    const float* imp = importance ? importance + (r / rows_per_mat) * cols : nullptr;
                    encode_row(type, row, out + size_t(r) * out_rb, cols, imp);
                }
            });
        });
    }
    stats.n_tensors = order.size();
    w.write(out_path, opt.progress);
    stats.bytes_out = std::filesystem::file_size(out_path);
    return stats;
}

}  // namespace dsm::quantize
