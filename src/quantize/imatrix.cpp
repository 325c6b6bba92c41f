#include "quantize/imatrix.hpp"

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <unordered_map>

#include "core/error.hpp"
#include "runtime/engine.hpp"

namespace dsm::quantize {
namespace {

class Reader {
public:
    Reader(const std::string& path, std::string bytes) : path_(path), bytes_(std::move(bytes)) {}
    bool at_end() const { return pos_ == bytes_.size(); }
    int32_t i32(const char* what) {
        int32_t v;
        take(&v, 4, what);
        return v;
    }
    void take(void* out, size_t n, const char* what) {
        if (n > bytes_.size() - pos_)
            throw Error(path_ + ": truncated imatrix file: " + what + " at byte " + std::to_string(pos_) +
                        " runs past the end");
        std::memcpy(out, bytes_.data() + pos_, n);
        pos_ += n;
    }
    std::string str(int32_t len, const char* what) {
        if (len < 0 || size_t(len) > bytes_.size() - pos_)
            throw Error(path_ + ": bad imatrix file: " + what + " length " + std::to_string(len) + " at byte " +
                        std::to_string(pos_));
        std::string s(bytes_.data() + pos_, size_t(len));
        pos_ += size_t(len);
        return s;
    }

private:
    std::string path_;
    std::string bytes_;
    size_t pos_ = 0;
};

void put_i32(std::ofstream& f, int32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); }

// Running sums of x² per column for one weight (all experts of a stack).
struct Accumulator {
    const std::string* name = nullptr;
    int64_t cols = 0;
    std::vector<double> sum;
    std::vector<int64_t> count;
    int32_t ncall = 0;
    int last_chunk = -1;
};

}  // namespace

Imatrix Imatrix::load(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    if (!f) throw Error(path + ": cannot open imatrix file");
    Reader r(path, std::string(std::istreambuf_iterator<char>(f), {}));
    Imatrix m;
    const int32_t n = r.i32("entry count");
    if (n < 1) throw Error(path + ": imatrix file has no entries (entry count " + std::to_string(n) + ")");
    for (int32_t i = 0; i < n; ++i) {
        const std::string name = r.str(r.i32("name length"), "name");
        ImatrixEntry e;
        e.ncall = r.i32("ncall");
        const int32_t nval = r.i32("value count");
        if (nval < 1 || int64_t(nval) > (int64_t(1) << 30))
            throw Error(path + ": entry '" + name + "' has a bad value count " + std::to_string(nval));
        e.values.resize(size_t(nval));
        r.take(e.values.data(), size_t(nval) * 4, "values");
        for (float& v : e.values) {
            if (!std::isfinite(v)) throw Error(path + ": entry '" + name + "' holds a non-finite value");
            if (e.ncall > 0) v /= float(e.ncall);
        }
        m.entries[name] = std::move(e);
    }
    if (!r.at_end()) {
        m.chunks = r.i32("chunk count");
        if (!r.at_end()) m.dataset = r.str(r.i32("dataset name length"), "dataset name");
    }
    return m;
}

void Imatrix::save(const std::string& path) const {
    std::ofstream f(path, std::ios::binary);
    if (!f) throw Error("cannot create imatrix file '" + path + "'");
    put_i32(f, int32_t(entries.size()));
    for (const auto& [name, e] : entries) {
        put_i32(f, int32_t(name.size()));
        f.write(name.data(), std::streamsize(name.size()));
        put_i32(f, e.ncall);
        put_i32(f, int32_t(e.values.size()));
        std::vector<float> scaled(e.values);
        for (float& v : scaled) v *= float(e.ncall);
        f.write(reinterpret_cast<const char*>(scaled.data()), std::streamsize(scaled.size() * 4));
    }
    put_i32(f, chunks);
    put_i32(f, int32_t(dataset.size()));
    f.write(dataset.data(), std::streamsize(dataset.size()));
    if (!f.flush()) throw Error("write to imatrix file '" + path + "' failed");
}

const float* Imatrix::find(const std::string& name, size_t n) const {
    const auto it = entries.find(name);
    if (it == entries.end()) return nullptr;
    if (it->second.values.size() != n)
        throw Error("imatrix entry '" + name + "' has " + std::to_string(it->second.values.size()) +
                    " values, but the tensor needs " + std::to_string(n) + " (an imatrix of another model?)");
    return it->second.values.data();
}

Imatrix compute_imatrix(const std::string& model_path, const std::string& text, const ImatrixOptions& opt) {
    auto loaded = Model::load(model_path);
    auto model = std::dynamic_pointer_cast<const EngineModel>(loaded);
    if (!model) throw Error("imatrix: unexpected model implementation");
    if (opt.n_ctx < 16) throw Error("imatrix: context " + std::to_string(opt.n_ctx) + " is too small (at least 16)");

    const std::vector<int32_t> tokens = model->tokenize(text, true, false);
    const std::vector<int32_t> prefix = model->tokenize("", true, false);  // [BOS] if the model adds one
    const int32_t bos = prefix.empty() ? -1 : prefix.front();
    const int n_avail = int(tokens.size() / size_t(opt.n_ctx));
    if (n_avail < 1)
        throw Error("imatrix: the text gives " + std::to_string(tokens.size()) + " tokens, fewer than one chunk of " +
                    std::to_string(opt.n_ctx));
    const int n_chunks = opt.n_chunks < 0 ? n_avail : std::min(opt.n_chunks, n_avail);

    ContextParams cp;
    cp.n_ctx = opt.n_ctx;
    cp.n_threads = opt.n_threads;
    cp.kv_type = KvCacheType::F32;
    cp.logits_all = opt.process_output;
    auto base_ctx = model->create_context(cp);
    auto* ctx = dynamic_cast<EngineContext*>(base_ctx.get());
    if (!ctx) throw Error("imatrix: unexpected context implementation");
    // The decompressed MLA form multiplies attn_kv_b with the latent as llama.cpp does.
    ctx->set_mla_mode(MlaMode::Decompressed);

    std::unordered_map<const std::string*, Accumulator> acc;
    int chunk = 0;
    ctx->set_matmul_observer([&](const Weight& w, const float* x, int64_t stride, int64_t n) {
        if (!w.name) return;  // derived weights have no tensor of their own
        const std::string& name = *w.name;
        if (name.rfind("blk.", 0) != 0 && !(opt.process_output && name == "output.weight")) return;
        Accumulator& a = acc[w.name];
        if (!a.name) {
            const gguf::TensorInfo* t = model->file().find_tensor(name);
            const int64_t n_mat = t && t->ne.size() >= 3 ? t->ne[2] : 1;
            a.name = w.name;
            a.cols = w.cols;
            a.sum.assign(size_t(w.cols * n_mat), 0.0);
            a.count.assign(size_t(w.cols * n_mat), 0);
        }
        const int64_t e = w.index < 0 ? 0 : w.index;
        if (w.cols != a.cols || (e + 1) * a.cols > int64_t(a.sum.size()))
            throw Error("imatrix: inconsistent shape of the inputs of '" + name + "'");
        double* s = a.sum.data() + e * a.cols;
        int64_t* c = a.count.data() + e * a.cols;
        for (int64_t r = 0; r < n; ++r) {
            const float* row = x + r * stride;
            for (int64_t j = 0; j < a.cols; ++j) s[j] += double(row[j]) * row[j];
        }
        for (int64_t j = 0; j < a.cols; ++j) c[j] += n;
        if (a.last_chunk != chunk) {
            a.last_chunk = chunk;
            ++a.ncall;
        }
    });

    std::vector<int32_t> ids(size_t(opt.n_ctx));
    for (chunk = 0; chunk < n_chunks; ++chunk) {
        std::copy_n(tokens.begin() + ptrdiff_t(chunk) * opt.n_ctx, opt.n_ctx, ids.begin());
        if (bos >= 0) ids[0] = bos;
        ctx->clear();
        ctx->set_input("input_ids", Tensor::tokens(ids));
        ctx->invoke();
        if (opt.progress) opt.progress(chunk + 1, n_chunks);
    }

    Imatrix m;
    m.chunks = n_chunks;
    m.dataset = opt.dataset;
    for (const auto& [ptr, a] : acc) {
        size_t zeros = 0;
        for (int64_t c : a.count) zeros += c == 0;
        if (zeros) {
            if (opt.log)
                opt.log("imatrix: '" + *a.name + "' has no data for " + std::to_string(zeros) + " of " +
                        std::to_string(a.count.size()) + " columns (an expert never chosen): skipped");
            continue;
        }
        ImatrixEntry e;
        e.ncall = a.ncall;
        e.values.resize(a.sum.size());
        for (size_t j = 0; j < a.sum.size(); ++j) e.values[j] = float(a.sum[j] / double(a.count[j]));
        m.entries[*a.name] = std::move(e);
    }
    return m;
}

}  // namespace dsm::quantize
