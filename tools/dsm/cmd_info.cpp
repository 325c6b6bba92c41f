// dsm info: architecture, hyper-parameters, tensors by type and memory needs.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <map>

#include "commands.hpp"
#include "dsm/dsm.hpp"
#include "formats/gguf.hpp"
#include "models/hparams.hpp"

namespace dsm::cli {

int cmd_info(int argc, char** argv) {
    CLI::App app{"Print a GGUF model's architecture, hyper-parameters, tensors and memory needs", "dsm info"};
    std::string path;
    int n_ctx = 0;
    bool metadata = false;
    app.add_option("model,-m,--model", path, "GGUF model file")->required();
    app.add_option("-c,--ctx", n_ctx, "context length for the memory estimate (default: training context)");
    app.add_flag("--metadata", metadata, "also list every metadata key");
    CLI11_PARSE(app, argc, argv);

    auto model = Model::load(path, LoadOptions{.repack = false, .prefetch = false});
    const ModelInfo& mi = model->info();
    auto file = gguf::File::open(path);
    const HParams hp = HParams::from_gguf(*file);
    if (n_ctx <= 0) n_ctx = int(hp.n_ctx_train);

    std::printf("file:          %s (GGUF v%u, %s)\n", path.c_str(), file->version(), human_bytes(double(file->file_size())).c_str());
    if (!mi.name.empty()) std::printf("name:          %s\n", mi.name.c_str());
    std::printf("architecture:  %s\n", mi.architecture.c_str());
    std::printf("parameters:    %.3f M\n", double(mi.n_params) / 1e6);
    std::printf("n_vocab %lld, n_embd %lld, n_layer %lld, n_head %lld, n_head_kv %lld, context_length %lld\n",
                (long long)mi.n_vocab, (long long)hp.n_embd, (long long)hp.n_layer, (long long)hp.n_head,
                (long long)hp.n_head_kv, (long long)hp.n_ctx_train);
    std::printf("head_dim k/v %lld/%lld, n_ff %lld, rms_eps %g, rope: %s pairs, n_rot %d, base %g, freq_scale %g%s\n",
                (long long)hp.head_dim_k, (long long)hp.head_dim_v, (long long)hp.n_ff, double(hp.rms_eps),
                hp.rope.pairing == RopePairing::Adjacent ? "adjacent (NORM)" : "half-split (NEOX)", hp.rope.n_rot,
                double(hp.rope.freq_base), double(hp.rope.freq_scale), hp.rope.yarn ? ", YaRN" : "");
    if (hp.is_mla())
        std::printf("MLA: q_lora_rank %lld, kv_lora_rank %lld, qk_nope %lld, qk_rope %lld, v %lld, layout %s\n",
                    (long long)hp.q_lora_rank, (long long)hp.kv_lora_rank, (long long)hp.qk_nope, (long long)hp.qk_rope,
                    (long long)hp.head_dim_v, hp.mla_split_kv_b ? "split attn_k_b/attn_v_b" : "attn_kv_b");
    if (hp.n_expert)
        std::printf("MoE: %lld experts, %lld used, %lld shared, n_ff_exp %lld, %lld leading dense, gating %s%s, scale %g, groups %lld/%lld\n",
                    (long long)hp.n_expert, (long long)hp.n_expert_used, (long long)hp.n_expert_shared,
                    (long long)hp.n_ff_exp, (long long)hp.n_leading_dense,
                    hp.gating == Gating::Sigmoid ? "sigmoid" : "softmax", hp.expert_weights_norm ? " (normalised)" : "",
                    double(hp.expert_weights_scale), (long long)hp.n_expert_group_used, (long long)hp.n_expert_group);

    std::map<std::string, std::pair<int, uint64_t>> by_type;
    for (const auto& t : file->tensors()) {
        auto& e = by_type[std::string(dtype_name(t.type))];
        e.first++;
        e.second += t.bytes;
    }
    std::printf("tensors:       %zu, %s of weights\n", file->tensors().size(), human_bytes(double(mi.weight_bytes)).c_str());
    for (const auto& [name, e] : by_type)
        std::printf("  %-6s %5d tensors  %s\n", name.c_str(), e.first, human_bytes(double(e.second)).c_str());

    std::printf("decode reads:  %s of weights per token (the generation roofline is bandwidth / this)\n",
                human_bytes(double(mi.decode_bytes_per_token)).c_str());
    std::printf("KV cache:      %llu values per token (%s per token in F16, %s in F32)%s\n",
                (unsigned long long)mi.kv_elems_per_token, human_bytes(double(mi.kv_bytes_per_token(KvCacheType::F16))).c_str(),
                human_bytes(double(mi.kv_bytes_per_token(KvCacheType::F32))).c_str(),
                hp.is_mla() ? " — compressed MLA latent" : "");
    const double kv16 = double(mi.kv_bytes_per_token(KvCacheType::F16)) * n_ctx;
    std::printf("memory at context %d: weights %s (memory-mapped) + KV cache %s (F16) = %s\n", n_ctx,
                human_bytes(double(mi.weight_bytes)).c_str(), human_bytes(kv16).c_str(),
                human_bytes(double(mi.weight_bytes) + kv16).c_str());
    std::printf("tokenizer:     %s\n", model->has_tokenizer() ? "embedded" : "none");

    if (metadata) {
        std::printf("metadata:\n");
        for (const auto& [key, v] : file->metadata()) {
            std::printf("  %-48s %s", key.c_str(), std::string(gguf::value_type_name(v.type)).c_str());
            if (v.type == gguf::ValueType::STRING) std::printf("  %.60s", v.str.c_str());
            else if (v.type == gguf::ValueType::ARRAY) std::printf("[%zu]", v.arr.size());
            else if (v.is_float()) std::printf("  %g", v.num.f);
            else std::printf("  %lld", (long long)v.as_int());
            std::printf("\n");
        }
    }
    return 0;
}

}  // namespace dsm::cli
