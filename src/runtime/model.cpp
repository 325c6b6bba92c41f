#include <algorithm>

#include "core/error.hpp"
#include "core/thread_pool.hpp"
#include "kernels/kernels.hpp"
#include "runtime/engine.hpp"

namespace dsm {

std::shared_ptr<Model> Model::load(const std::string& path, const LoadOptions& options) {
    auto file = gguf::File::open(path);
    return std::make_shared<EngineModel>(std::move(file), options);
}

EngineModel::EngineModel(std::unique_ptr<gguf::File> file, const LoadOptions& options) : file_(std::move(file)) {
    if (options.prefetch) file_->mapping().prefetch();
    if (options.lock_memory) file_->mapping().lock();
    HParams hp = HParams::from_gguf(*file_);
    ModelWeights w = ModelWeights::load(*file_, hp);
    if (options.repack) {
        ThreadPool pool;
        w.pack(kernels::active(), pool, options.huge_pages, [this](const Weight& original) {
            const size_t span = size_t(original.n_mat - 1) * (original.mat_stride ? original.mat_stride
                                                                                 : original.rows * original.row_stride) +
                                size_t(original.rows) * original.row_stride;
            file_->mapping().release(original.data, span);
        });
    }
    if (file_->find("tokenizer.ggml.model")) {
        tokenizer_ = Tokenizer::from_vocab(vocab_from_gguf(*file_));
        if (tokenizer_->n_vocab() > hp.n_vocab)
            throw Error(file_->path() + ": tokenizer has " + std::to_string(tokenizer_->n_vocab()) +
                        " tokens but token_embd.weight only " + std::to_string(hp.n_vocab) + " rows");
    }

    info_.architecture = arch_name(hp.arch);
    info_.name = file_->get_string("general.name").value_or("");
    info_.n_vocab = hp.n_vocab;
    info_.n_embd = hp.n_embd;
    info_.n_layer = hp.n_layer;
    info_.n_head = hp.n_head;
    info_.n_head_kv = hp.n_head_kv;
    info_.n_ctx_train = hp.n_ctx_train;
    info_.kv_elems_per_token = uint64_t(hp.n_layer * hp.kv_cache_width());
    const bool tied_output = !file_->find_tensor("output.weight");
    for (const auto& t : file_->tensors()) {
        info_.n_params += t.n_elements();
        info_.weight_bytes += t.bytes;
        // A decode step reads one embedding row (the whole table when it doubles as the
        // output matrix) and, of the routed experts, n_expert_used of n_expert on average.
        uint64_t read = t.bytes;
        if (t.name == "token_embd.weight" && !tied_output) read = t.bytes / uint64_t(std::max<int64_t>(1, hp.n_vocab));
        else if (hp.n_expert > 0 && t.name.find("_exps.") != std::string::npos)
            read = uint64_t(double(t.bytes) * double(hp.n_expert_used) / double(hp.n_expert));
        info_.decode_bytes_per_token += read;
    }
    transformer_ = std::make_unique<Transformer>(std::move(hp), std::move(w));
}

std::unique_ptr<Context> EngineModel::create_context(const ContextParams& params) const {
    return std::make_unique<EngineContext>(shared_from_this(), params);
}

const Tokenizer& EngineModel::require_tokenizer() const {
    if (!tokenizer_) throw Error(file_->path() + ": the model file carries no tokenizer (tokenizer.ggml.* keys)");
    return *tokenizer_;
}

std::vector<int32_t> EngineModel::tokenize(std::string_view text, bool add_special, bool parse_special) const {
    return require_tokenizer().encode(text, add_special, parse_special);
}

std::string EngineModel::detokenize(std::span<const int32_t> ids, bool skip_special) const {
    return require_tokenizer().decode(ids, skip_special);
}

std::string EngineModel::token_to_piece(int32_t id) const { return require_tokenizer().token_to_piece(id); }

bool EngineModel::is_end_of_generation(int32_t id) const {
    return tokenizer_ ? tokenizer_->is_end_of_generation(id) : false;
}

std::string EngineModel::chat_template() const { return tokenizer_ ? tokenizer_->chat_template() : std::string(); }

}  // namespace dsm

namespace dsm {
namespace {

class DecoderStream : public TextStream {
public:
    DecoderStream(const Tokenizer& t, bool at_text_start) : dec_(t, false, at_text_start) {}
    std::string push(int32_t id) override { return dec_.push(id); }
    std::string flush() override { return dec_.flush(); }

private:
    StreamDecoder dec_;
};

}  // namespace

Model::SpecialTokens EngineModel::special_tokens() const {
    SpecialTokens s;
    if (tokenizer_) {
        s.bos = tokenizer_->bos();
        s.eos = tokenizer_->eos();
        s.eot = tokenizer_->eot();
        s.add_bos = tokenizer_->add_bos();
    }
    return s;
}

std::unique_ptr<TextStream> EngineModel::text_stream(bool at_text_start) const {
    return std::make_unique<DecoderStream>(require_tokenizer(), at_text_start);
}

}  // namespace dsm
