// The concrete Model and Context behind the public API (include/dsm/dsm.hpp).
#pragma once
#include <memory>
#include <vector>

#include "dsm/dsm.hpp"
#include "formats/gguf.hpp"
#include "models/transformer.hpp"
#include "runtime/kv_cache.hpp"
#include "runtime/sampler.hpp"
#include "tokenizer/tokenizer.hpp"

namespace dsm {

class EngineModel : public Model, public std::enable_shared_from_this<EngineModel> {
public:
    EngineModel(std::unique_ptr<gguf::File> file, const LoadOptions& options);

    const ModelInfo& info() const override { return info_; }
    std::unique_ptr<Context> create_context(const ContextParams& params) const override;
    bool has_tokenizer() const override { return tokenizer_ != nullptr; }
    std::vector<int32_t> tokenize(std::string_view text, bool add_special, bool parse_special) const override;
    std::string detokenize(std::span<const int32_t> ids, bool skip_special) const override;
    std::string token_to_piece(int32_t id) const override;
    bool is_end_of_generation(int32_t id) const override;
    std::string chat_template() const override;
    std::unique_ptr<TextStream> text_stream(bool at_text_start) const override;
    SpecialTokens special_tokens() const override;

    const Transformer& transformer() const { return *transformer_; }
    const gguf::File& file() const { return *file_; }
    const Tokenizer* tokenizer() const { return tokenizer_.get(); }

private:
    const Tokenizer& require_tokenizer() const;

    std::unique_ptr<gguf::File> file_;
    std::unique_ptr<Transformer> transformer_;
    std::unique_ptr<Tokenizer> tokenizer_;
    ModelInfo info_;
};

class EngineContext : public Context {
public:
    EngineContext(std::shared_ptr<const EngineModel> model, const ContextParams& params);

    void set_input(std::string_view name, const Tensor& value) override;
    void invoke() override;
    const Tensor& get_output(std::string_view name) const override;
    GenerateStats generate(std::span<const int32_t> prompt, int max_tokens, const SamplerParams& sampling,
                           const TokenCallback& on_token, bool ignore_eos) override;
    int n_past() const override { return int(history_.size()); }
    int n_ctx() const override { return cache_.n_ctx(); }
    void clear() override;
    void truncate(int n) override;
    uint64_t kv_cache_bytes() const override { return cache_.bytes(); }

    // For tests and tools: how MLA attention is computed.
    void set_mla_mode(MlaMode m) { mla_mode_ = m; }
    void set_f32_activations(bool on) { ws_.f32_activations = on; }
    void set_matmul_observer(MatmulObserver obs) { ws_.observer = std::move(obs); }

private:
    // Checks ids and room, then runs them; fills all-position logits or the last row.
    void run(std::span<const int32_t> ids, bool all_logits);
    void check_tokens(std::span<const int32_t> ids, const char* what) const;

    std::shared_ptr<const EngineModel> model_;
    ContextParams params_;
    ThreadPool pool_;
    KvCache cache_;
    Workspace ws_;
    MlaMode mla_mode_ = MlaMode::Auto;
    std::vector<int32_t> history_;   // tokens in the cache
    std::vector<int32_t> pending_;   // emitted by generate() but not yet evaluated
    std::vector<int32_t> input_;
    bool has_input_ = false;
    Tensor logits_;
    std::vector<float> last_logits_;
};

}  // namespace dsm
