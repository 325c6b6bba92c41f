#include "models/weights.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <sstream>

#include "core/error.hpp"
#include "formats/gguf.hpp"
#include "kernels/kernels.hpp"
#include "kernels/pack.hpp"
#include "quant/quant.hpp"

namespace dsm {
namespace {

std::string shape_str(const std::vector<int64_t>& ne) {
    std::ostringstream s;
    s << "[";
    for (size_t i = 0; i < ne.size(); ++i) s << (i ? ", " : "") << ne[i];
    s << "]";
    return s.str();
}

class Loader {
public:
    explicit Loader(const gguf::File& f) : f_(f) {}

    const gguf::TensorInfo* find(const std::string& name) const { return f_.find_tensor(name); }

    const gguf::TensorInfo& get(const std::string& name, const std::vector<int64_t>& want) const {
        const gguf::TensorInfo* t = f_.find_tensor(name);
        if (!t) throw Error(f_.path() + ": missing tensor '" + name + "' (expected shape " + shape_str(want) + ")");
        std::vector<int64_t> have = t->ne;
        while (have.size() > want.size() && have.back() == 1) have.pop_back();
        if (have != want)
            throw Error(f_.path() + ": tensor '" + name + "' has shape " + shape_str(t->ne) + ", expected " +
                        shape_str(want));
        return *t;
    }

    Weight matrix(const std::string& name, int64_t cols, int64_t rows, int64_t n_mat = 1) const {
        std::vector<int64_t> want{cols, rows};
        if (n_mat > 1) want.push_back(n_mat);
        const gguf::TensorInfo& t = get(name, want);
        if (!kernels::active().vec_dot[uint32_t(t.type)] || !can_dequantize(t.type))
            throw Error(f_.path() + ": tensor '" + name + "' has type " + std::string(dtype_name(t.type)) +
                        ", which has no matrix kernel");
        Weight w;
        w.type = t.type;
        w.cols = cols;
        w.rows = rows;
        w.n_mat = n_mat;
        w.data = t.data;
        w.row_stride = row_bytes(t.type, cols);
        w.name = &t.name;
        return w;
    }

    Weight optional_matrix(const std::string& name, int64_t cols, int64_t rows) const {
        return find(name) ? matrix(name, cols, rows) : Weight{};
    }

    std::vector<float> vector(const std::string& name, int64_t n) const {
        const gguf::TensorInfo& t = get(name, {n});
        if (!can_dequantize(t.type))
            throw Error(f_.path() + ": tensor '" + name + "' has unsupported type " + std::string(dtype_name(t.type)));
        std::vector<float> v(static_cast<size_t>(n));
        dequantize_row(t.type, t.data, v.data(), n);
        return v;
    }

    std::vector<float> optional_vector(const std::string& name, int64_t n) const {
        return find(name) ? vector(name, n) : std::vector<float>{};
    }

private:
    const gguf::File& f_;
};

// The legacy attn_kv_b holds, per head, nope rows of K then v rows of V, each
// kv_lora wide. The absorbed form needs V per head, which is a view of those rows,
// and K transposed per head ([kv_lora][nope]), built once, dequantized to F32, so
// that absorbed and decompressed attention agree to F32 rounding (see latent_rounding).
void derive_mla_views(ModelWeights& mw, LayerWeights& L, const HParams& hp) {
    const int64_t H = hp.n_head, nope = hp.qk_nope, dv = hp.head_dim_v, r = hp.kv_lora_rank;
    std::vector<float> kb(static_cast<size_t>(H * r * nope));
    std::vector<float> row(static_cast<size_t>(r));
    for (int64_t h = 0; h < H; ++h) {
        for (int64_t i = 0; i < nope; ++i) {
            dequantize_row(L.wkv_b.type, L.wkv_b.row(h * (nope + dv) + i), row.data(), r);
            for (int64_t c = 0; c < r; ++c) kb[size_t((h * r + c) * nope + i)] = row[size_t(c)];
        }
    }
    mw.owned.push_back(std::move(kb));
    L.wk_b = Weight{DType::F32, nope, r, H, reinterpret_cast<const uint8_t*>(mw.owned.back().data()), size_t(nope) * 4, 0};
    L.wv_b = Weight{L.wkv_b.type, r, dv, H, L.wkv_b.row(nope), L.wkv_b.row_stride,
                    size_t(nope + dv) * L.wkv_b.row_stride};
    L.latent_rounding = kernels::activation_type(L.wkv_b.type);
}

}  // namespace

ModelWeights ModelWeights::load(const gguf::File& f, HParams& hp) {
    Loader ld(f);
    ModelWeights mw;
    mw.owned.reserve(size_t(hp.n_layer) * 2 + 1);  // pointers into `owned` must stay valid

    const gguf::TensorInfo* emb = ld.find("token_embd.weight");
    if (!emb) throw Error(f.path() + ": missing tensor 'token_embd.weight'");
    if (emb->ne.size() < 2) throw Error(f.path() + ": tensor 'token_embd.weight' must be 2-D, has shape " + shape_str(emb->ne));
    hp.n_vocab = emb->ne[1];
    mw.token_embd = ld.matrix("token_embd.weight", hp.n_embd, hp.n_vocab);
    mw.output_norm = ld.vector("output_norm.weight", hp.n_embd);
    mw.output = ld.find("output.weight") ? ld.matrix("output.weight", hp.n_embd, hp.n_vocab) : mw.token_embd;

    const int64_t E = hp.n_embd;
    mw.layers.resize(size_t(hp.n_layer));
    for (int64_t il = 0; il < hp.n_layer; ++il) {
        LayerWeights& L = mw.layers[size_t(il)];
        const std::string p = "blk." + std::to_string(il) + ".";
        L.attn_norm = ld.vector(p + "attn_norm.weight", E);
        L.ffn_norm = ld.vector(p + "ffn_norm.weight", E);

        if (hp.is_mla()) {
            const int64_t H = hp.n_head, dk = hp.head_dim_k, dv = hp.head_dim_v, r = hp.kv_lora_rank;
            if (ld.find(p + "attn_q_a.weight")) {
                if (hp.q_lora_rank <= 0) throw Error(f.path() + ": attn_q_a present but attention.q_lora_rank missing");
                L.wq_a = ld.matrix(p + "attn_q_a.weight", E, hp.q_lora_rank);
                L.q_a_norm = ld.vector(p + "attn_q_a_norm.weight", hp.q_lora_rank);
                L.wq_b = ld.matrix(p + "attn_q_b.weight", hp.q_lora_rank, H * dk);
            } else {
                L.wq = ld.matrix(p + "attn_q.weight", E, H * dk);
            }
            L.wkv_a_mqa = ld.matrix(p + "attn_kv_a_mqa.weight", E, r + hp.qk_rope);
            L.kv_a_norm = ld.vector(p + "attn_kv_a_norm.weight", r);
            if (hp.mla_split_kv_b) {
                L.wk_b = ld.matrix(p + "attn_k_b.weight", hp.qk_nope, r, H);
                L.wv_b = ld.matrix(p + "attn_v_b.weight", r, dv, H);
            } else {
                L.wkv_b = ld.matrix(p + "attn_kv_b.weight", r, H * (hp.qk_nope + dv));
                derive_mla_views(mw, L, hp);
            }
            L.wo = ld.matrix(p + "attn_output.weight", H * dv, E);
        } else {
            const int64_t q_out = hp.n_head * hp.head_dim_k, k_out = hp.n_head_kv * hp.head_dim_k,
                          v_out = hp.n_head_kv * hp.head_dim_v;
            L.wq = ld.matrix(p + "attn_q.weight", E, q_out);
            L.wk = ld.matrix(p + "attn_k.weight", E, k_out);
            L.wv = ld.matrix(p + "attn_v.weight", E, v_out);
            L.wo = ld.matrix(p + "attn_output.weight", hp.n_head * hp.head_dim_v, E);
            L.bq = ld.optional_vector(p + "attn_q.bias", q_out);
            L.bk = ld.optional_vector(p + "attn_k.bias", k_out);
            L.bv = ld.optional_vector(p + "attn_v.bias", v_out);
            if (hp.arch == Arch::Qwen2 && (L.bq.empty() || L.bk.empty() || L.bv.empty()))
                throw Error(f.path() + ": qwen2 layer " + std::to_string(il) + " lacks attn_q/k/v biases");
        }

        if (hp.is_moe_layer(il)) {
            const int64_t X = hp.n_expert, F = hp.n_ff_exp;
            L.ffn_gate_inp = ld.matrix(p + "ffn_gate_inp.weight", E, X);
            L.exp_probs_b = ld.optional_vector(p + "exp_probs_b.bias", X);
            L.gate_exps = ld.matrix(p + "ffn_gate_exps.weight", E, F, X);
            L.up_exps = ld.matrix(p + "ffn_up_exps.weight", E, F, X);
            L.down_exps = ld.matrix(p + "ffn_down_exps.weight", F, E, X);
            if (hp.n_expert_shared > 0) {
                const int64_t S = F * hp.n_expert_shared;
                L.gate_shexp = ld.matrix(p + "ffn_gate_shexp.weight", E, S);
                L.up_shexp = ld.matrix(p + "ffn_up_shexp.weight", E, S);
                L.down_shexp = ld.matrix(p + "ffn_down_shexp.weight", S, E);
            }
        } else {
            L.ffn_gate = ld.matrix(p + "ffn_gate.weight", E, hp.n_ff);
            L.ffn_up = ld.matrix(p + "ffn_up.weight", E, hp.n_ff);
            L.ffn_down = ld.matrix(p + "ffn_down.weight", hp.n_ff, E);
        }
    }
    return mw;
}

ModelWeights::PackedBuffer::PackedBuffer(size_t bytes, bool huge_pages) {
    const size_t page = huge_pages ? size_t(2) << 20 : size_t(::sysconf(_SC_PAGESIZE));
    size = (bytes + page - 1) / page * page;
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw Error("out of memory: cannot map " + std::to_string(size) + " bytes for packed weights");
#ifdef MADV_HUGEPAGE
    if (huge_pages) ::madvise(p, size, MADV_HUGEPAGE);
#endif
    data = static_cast<uint8_t*>(p);
}

ModelWeights::PackedBuffer::~PackedBuffer() { ::munmap(data, size); }

size_t ModelWeights::pack(const kernels::KernelTable& table, ThreadPool& pool, bool huge_pages,
                          const std::function<void(const Weight&)>& done) {
    std::vector<Weight*> ws{&output};  // token_embd is read by rows, never multiplied
    for (LayerWeights& L : layers)
        for (Weight* w : {&L.wq, &L.wk, &L.wv, &L.wo, &L.wq_a, &L.wq_b, &L.wkv_a_mqa, &L.wkv_b, &L.wk_b, &L.wv_b,
                          &L.ffn_gate, &L.ffn_up, &L.ffn_down, &L.ffn_gate_inp, &L.gate_exps, &L.up_exps,
                          &L.down_exps, &L.gate_shexp, &L.up_shexp, &L.down_shexp})
            ws.push_back(w);
    // One buffer for all of them (no per-tensor rounding to pages), 64-byte aligned pieces.
    std::vector<size_t> offsets;
    size_t total = 0;
    for (Weight* w : ws) {
        offsets.push_back(total);
        total += (kernels::packed_bytes(table, *w) + 63) / 64 * 64;
    }
    if (total == 0) return 0;
    packed = std::make_unique<PackedBuffer>(total, huge_pages);
    for (size_t i = 0; i < ws.size(); ++i) {
        Weight& w = *ws[i];
        if (kernels::packed_bytes(table, w) == 0) continue;
        if (w.n_mat > 1) {
            packed_on_demand.push_back(std::make_unique<kernels::PackOnDemand>(w.n_mat, done));
            kernels::pack_on_demand(table, w, packed->data + offsets[i], *packed_on_demand.back());
        } else {
            kernels::pack(table, w, packed->data + offsets[i], pool);
            done(w);
        }
    }
    return total;
}

}  // namespace dsm
