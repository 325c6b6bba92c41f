// libdsm — on-device inference for DeepSeek-family language models.
// The public C++ API: load a GGUF model, create contexts, run tokens, generate.
//
//   auto model = dsm::Model::load("model.gguf");
//   auto ctx = model->create_context({.n_ctx = 2048});
//   ctx->set_input("input_ids", dsm::Tensor::tokens({1, 15043, 29892}));
//   ctx->invoke();
//   const dsm::Tensor& logits = ctx->get_output("logits");   // [n_tokens, n_vocab]
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace dsm {

// Every error a caller can cause (bad file, bad input, context overflow) is thrown as
// dsm::Error with a message naming what was expected and what was given.
class Error : public std::runtime_error {
public:
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

enum class ElementType { F32, I32 };
std::string_view element_type_name(ElementType t);

// A dense host tensor, row-major, owning its data. Inputs and outputs of a Context.
class Tensor {
public:
    Tensor() = default;
    Tensor(ElementType type, std::vector<int64_t> shape);
    // A [n] tensor of token ids.
    static Tensor tokens(std::span<const int32_t> ids);
    static Tensor tokens(std::initializer_list<int32_t> ids) { return tokens(std::span<const int32_t>(ids.begin(), ids.size())); }

    ElementType type() const { return type_; }
    const std::vector<int64_t>& shape() const { return shape_; }
    int64_t numel() const;
    std::string shape_string() const;  // "[3, 512]"

    float* f32();
    const float* f32() const;
    int32_t* i32();
    const int32_t* i32() const;

private:
    ElementType type_ = ElementType::F32;
    std::vector<int64_t> shape_;
    std::vector<uint32_t> data_;  // 4-byte elements either way
};

struct LoadOptions {
    // Rearrange the weights whose products this CPU's kernels run faster from a packed
    // layout (AVX-512: Q4_0, Q8_0, Q4_K; AVX2 and AVX-VNNI: those and Q6_K)
    // into private memory at load (routed experts at their first use), releasing their
    // file pages: resident memory stays about the same, load reads those tensors once.
    // false: zero copy, every weight is read in place from the memory-mapped file.
    bool repack = true;
    // Put the packed weights on transparent huge pages (Linux, MADV_HUGEPAGE): fewer
    // TLB misses while decode streams them (+12% tokens/s measured), but the OS
    // zeroes each 2 MiB page when it is first touched, which made loading slower on
    // the virtual machines we measured (docs/PERFORMANCE.md).
    bool huge_pages = false;
    bool lock_memory = false; // mlock the mapping so the OS cannot page it out
    bool prefetch = true;     // ask the OS to read the file ahead
};

enum class KvCacheType { F16, F32 };

struct ContextParams {
    int n_ctx = 0;            // 0: the model's training context length (capped at 4096)
    int n_threads = 0;        // 0: all hardware threads
    int n_batch = 512;        // prompt tokens per forward pass in generate()
    bool logits_all = true;   // invoke(): logits of every input token, or only the last ([1, n_vocab])
    KvCacheType kv_type = KvCacheType::F16;
    bool pin_threads = false; // pin worker threads to cores
};

// Architecture and sizes of a loaded model (what `dsm info` prints).
struct ModelInfo {
    std::string architecture;   // "llama", "qwen2", "deepseek", "deepseek2"
    std::string name;           // general.name, if present
    int64_t n_vocab = 0, n_embd = 0, n_layer = 0, n_head = 0, n_head_kv = 0, n_ctx_train = 0;
    int64_t n_params = 0;
    uint64_t weight_bytes = 0;
    // Weight bytes one decode step reads (embedding: one row; MoE: the average share of
    // routed experts): divided by memory bandwidth, the generation speed limit.
    uint64_t decode_bytes_per_token = 0;
    // Bytes the KV cache takes per token of context (all layers) for a cache type.
    uint64_t kv_bytes_per_token(KvCacheType t) const;
    uint64_t kv_elems_per_token = 0;  // cached values per token, all layers
};

struct SamplerParams {
    float temperature = 0.8f;   // <= 0: greedy (argmax, ties to the lowest id)
    int top_k = 40;             // <= 0: off
    float top_p = 0.95f;        // >= 1: off
    float min_p = 0.05f;        // <= 0: off
    float repeat_penalty = 1.0f;     // 1: off (llama.cpp semantics: divide positive logits, multiply negative)
    float frequency_penalty = 0.0f;  // subtract count * f
    float presence_penalty = 0.0f;   // subtract p if present
    int penalty_last_n = 64;         // window for the penalties (-1: whole context)
    uint64_t seed = 0xD5EEDULL;
};

// Per-token callback for generate(): return false to stop.
using TokenCallback = std::function<bool(int32_t token)>;

struct GenerateStats {
    int n_prompt = 0, n_generated = 0;
    double prompt_seconds = 0, generate_seconds = 0;
    bool stopped_by_callback = false, hit_end_token = false, hit_context_limit = false;
};

class Context;

// Turns generated token ids into text, holding back bytes until they form whole
// UTF-8 characters (and handling SentencePiece's leading space).
class TextStream {
public:
    virtual ~TextStream() = default;
    virtual std::string push(int32_t id) = 0;  // text that is complete so far
    virtual std::string flush() = 0;           // whatever is left
};

class Model {
public:
    static std::shared_ptr<Model> load(const std::string& path, const LoadOptions& options = {});
    virtual ~Model() = default;

    virtual const ModelInfo& info() const = 0;
    virtual std::unique_ptr<Context> create_context(const ContextParams& params = {}) const = 0;

    // Text <-> tokens with the vocabulary the file carries (throws if it has none).
    // add_special: add BOS/EOS as the model's config says; parse_special: text such
    // as "<｜User｜>" becomes the special token instead of plain text.
    virtual bool has_tokenizer() const = 0;
    virtual std::vector<int32_t> tokenize(std::string_view text, bool add_special = true,
                                          bool parse_special = false) const = 0;
    virtual std::string detokenize(std::span<const int32_t> ids, bool skip_special = false) const = 0;
    virtual std::string token_to_piece(int32_t id) const = 0;
    // End of generation: EOS, EOT and similar.
    virtual bool is_end_of_generation(int32_t id) const = 0;
    // A decoder for generated text. at_text_start: the ids begin a text (strip
    // SentencePiece's leading space) rather than continue a prompt.
    virtual std::unique_ptr<TextStream> text_stream(bool at_text_start = false) const = 0;
    // Special token ids of the vocabulary (-1 if it has none) and whether encoding
    // with add_special = true prepends BOS.
    struct SpecialTokens {
        int32_t bos = -1, eos = -1, eot = -1;
        bool add_bos = false;
    };
    virtual SpecialTokens special_tokens() const = 0;
    // The Jinja chat template from the file ("" if none).
    virtual std::string chat_template() const = 0;
};

class Context {
public:
    virtual ~Context() = default;

    // Inputs: "input_ids" (I32, shape [n_tokens] or [1, n_tokens]); the tokens are
    // appended after the ones already in the KV cache.
    virtual void set_input(std::string_view name, const Tensor& value) = 0;
    // Runs the model over the pending input.
    virtual void invoke() = 0;
    // Outputs: "logits" (F32, [n_tokens, n_vocab]) of the last invoke(); [1, n_vocab]
    // (the last token's) if the context was created with logits_all = false.
    virtual const Tensor& get_output(std::string_view name) const = 0;

    // Generation on top of invoke(): feeds `prompt` (appended to the cache), then
    // samples up to max_tokens tokens, calling on_token for each; stops at an end-of-
    // generation token (unless ignore_eos), when the callback returns false, or
    // when the context is full. The cache keeps everything, so a later call continues
    // the conversation without recomputing it.
    virtual GenerateStats generate(std::span<const int32_t> prompt, int max_tokens, const SamplerParams& sampling,
                                   const TokenCallback& on_token, bool ignore_eos = false) = 0;

    virtual int n_past() const = 0;      // tokens in the KV cache
    virtual int n_ctx() const = 0;       // capacity
    virtual void clear() = 0;            // empty the KV cache
    virtual void truncate(int n) = 0;    // keep the first n tokens
    virtual uint64_t kv_cache_bytes() const = 0;
};

}  // namespace dsm
