#include <algorithm>
#include <chrono>

#include "core/error.hpp"
#include "runtime/engine.hpp"

namespace dsm {
namespace {

int resolve_n_ctx(const HParams& hp, int requested) {
    if (requested < 0) throw Error("ContextParams.n_ctx must be >= 0, got " + std::to_string(requested));
    if (requested == 0) return int(std::min<int64_t>(hp.n_ctx_train, 4096));
    return requested;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

EngineContext::EngineContext(std::shared_ptr<const EngineModel> model, const ContextParams& params)
    : model_(std::move(model)),
      params_(params),
      pool_(params.n_threads),
      cache_(model_->transformer().hparams(), resolve_n_ctx(model_->transformer().hparams(), params.n_ctx),
             params.kv_type) {
    if (params_.n_batch <= 0) throw Error("ContextParams.n_batch must be positive, got " + std::to_string(params_.n_batch));
    if (params_.pin_threads) pool_.pin_threads();
}

void EngineContext::check_tokens(std::span<const int32_t> ids, const char* what) const {
    const int64_t n_vocab = model_->transformer().hparams().n_vocab;
    for (size_t i = 0; i < ids.size(); ++i)
        if (ids[i] < 0 || ids[i] >= n_vocab)
            throw Error(std::string(what) + ": token id " + std::to_string(ids[i]) + " at index " + std::to_string(i) +
                        " is out of range: expected 0 <= id < n_vocab = " + std::to_string(n_vocab));
    if (int64_t(history_.size()) + int64_t(ids.size()) > cache_.n_ctx())
        throw Error(std::string(what) + ": context overflow: " + std::to_string(history_.size()) +
                    " tokens in the cache + " + std::to_string(ids.size()) + " new exceed n_ctx = " +
                    std::to_string(cache_.n_ctx()));
}

void EngineContext::set_input(std::string_view name, const Tensor& value) {
    if (name != "input_ids")
        throw Error("set_input: unknown input '" + std::string(name) + "': expected 'input_ids'");
    if (value.type() != ElementType::I32)
        throw Error("set_input: Input dtype mismatch for 'input_ids': expected i32, got " +
                    std::string(element_type_name(value.type())));
    const auto& s = value.shape();
    const bool ok = (s.size() == 1 && s[0] >= 1) || (s.size() == 2 && s[0] == 1 && s[1] >= 1);
    if (!ok)
        throw Error("set_input: Input shape mismatch for 'input_ids': expected [n_tokens] or [1, n_tokens] with "
                    "n_tokens >= 1, got " + value.shape_string());
    std::span<const int32_t> ids(value.i32(), size_t(value.numel()));
    check_tokens(ids, "set_input 'input_ids'");
    input_.assign(ids.begin(), ids.end());
    has_input_ = true;
}

void EngineContext::run(std::span<const int32_t> ids, bool all_logits) {
    check_tokens(ids, "run");
    const int64_t n_vocab = model_->transformer().hparams().n_vocab;
    const int64_t pos0 = int64_t(history_.size());
    float* all = nullptr;
    if (all_logits) {
        logits_ = Tensor(ElementType::F32, {int64_t(ids.size()), n_vocab});
        all = logits_.f32();
    }
    last_logits_.resize(size_t(n_vocab));
    model_->transformer().forward(ids.data(), int64_t(ids.size()), pos0, cache_, ws_, pool_, all,
                                  all ? nullptr : last_logits_.data(), mla_mode_);
    if (all) std::copy_n(all + (int64_t(ids.size()) - 1) * n_vocab, n_vocab, last_logits_.data());
    history_.insert(history_.end(), ids.begin(), ids.end());
}

void EngineContext::invoke() {
    if (!has_input_) throw Error("invoke: no input set: call set_input(\"input_ids\", ...) first");
    has_input_ = false;
    // Tokens generate() emitted but did not evaluate come first, so the cache stays a
    // faithful record of the conversation.
    std::vector<int32_t> ids = std::move(pending_);
    pending_.clear();
    const size_t n_pending = ids.size();
    ids.insert(ids.end(), input_.begin(), input_.end());
    run(ids, params_.logits_all);
    if (!params_.logits_all) {
        logits_ = Tensor(ElementType::F32, {1, int64_t(last_logits_.size())});
        std::copy(last_logits_.begin(), last_logits_.end(), logits_.f32());
    } else if (n_pending) {
        // Outputs cover the caller's tokens only.
        const int64_t n_vocab = logits_.shape()[1];
        Tensor mine(ElementType::F32, {int64_t(input_.size()), n_vocab});
        std::copy_n(logits_.f32() + int64_t(n_pending) * n_vocab, mine.numel(), mine.f32());
        logits_ = std::move(mine);
    }
}

const Tensor& EngineContext::get_output(std::string_view name) const {
    if (name != "logits") throw Error("get_output: unknown output '" + std::string(name) + "': expected 'logits'");
    if (logits_.shape().empty()) throw Error("get_output: no output yet: call invoke() first");
    return logits_;
}

GenerateStats EngineContext::generate(std::span<const int32_t> prompt, int max_tokens, const SamplerParams& sampling,
                                      const TokenCallback& on_token, bool ignore_eos) {
    GenerateStats st;
    std::vector<int32_t> feed = std::move(pending_);
    pending_.clear();
    feed.insert(feed.end(), prompt.begin(), prompt.end());
    st.n_prompt = int(prompt.size());
    if (feed.empty() && history_.empty())
        throw Error("generate: empty prompt and empty context: nothing to continue from");
    check_tokens(feed, "generate");

    const auto t0 = std::chrono::steady_clock::now();
    for (size_t i = 0; i < feed.size(); i += size_t(params_.n_batch)) {
        const size_t n = std::min(feed.size() - i, size_t(params_.n_batch));
        run(std::span<const int32_t>(feed.data() + i, n), false);
    }
    st.prompt_seconds = seconds_since(t0);

    const auto t1 = std::chrono::steady_clock::now();
    Sampler sampler(sampling);
    const int64_t n_vocab = model_->transformer().hparams().n_vocab;
    std::vector<float> logits;
    std::vector<int32_t> seen;
    for (int i = 0; i < max_tokens; ++i) {
        logits = last_logits_;
        seen = history_;
        const int32_t tok = sampler.sample(logits.data(), n_vocab, seen);
        ++st.n_generated;
        const bool keep_going = on_token ? on_token(tok) : true;
        if (!keep_going) st.stopped_by_callback = true;
        if (!ignore_eos && model_->is_end_of_generation(tok)) st.hit_end_token = true;
        const bool room = int(history_.size()) < cache_.n_ctx();
        if (!room) st.hit_context_limit = true;
        if (!keep_going || st.hit_end_token || !room || i + 1 == max_tokens) {
            pending_.push_back(tok);
            break;
        }
        const int32_t one[1] = {tok};
        run(one, false);
    }
    st.generate_seconds = seconds_since(t1);
    return st;
}

void EngineContext::clear() {
    history_.clear();
    pending_.clear();
    has_input_ = false;
}

void EngineContext::truncate(int n) {
    if (n < 0 || n > int(history_.size()))
        throw Error("truncate: n = " + std::to_string(n) + " is outside [0, " + std::to_string(history_.size()) + "]");
    history_.resize(size_t(n));
    pending_.clear();
}

}  // namespace dsm
