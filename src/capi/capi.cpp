// The C API (include/dsm/dsm.h): a thin layer over the C++ API that turns
// exceptions into return codes and a per-thread error message.
#include "dsm/dsm.h"

#include <climits>
#include <cstring>
#include <string>

#include "dsm/dsm.hpp"

struct dsm_model {
    std::shared_ptr<dsm::Model> model;
};
struct dsm_context {
    std::shared_ptr<dsm::Model> model;
    std::unique_ptr<dsm::Context> ctx;
};

namespace {

thread_local std::string g_error;

template <typename R, typename F>
R guarded(R on_error, F&& fn) {
    try {
        g_error.clear();
        return fn();
    } catch (const std::exception& e) {
        g_error = e.what();
    } catch (...) {
        g_error = "unknown error";
    }
    return on_error;
}

bool check(const void* p, const char* what) {
    if (p) return true;
    g_error = std::string(what) + " is NULL";
    return false;
}

int32_t copy_out(const std::string& bytes, char* buf, int32_t capacity) {
    const auto n = int32_t(bytes.size());
    if (n > capacity) return -n;
    if (n) std::memcpy(buf, bytes.data(), size_t(n));
    return n;
}

}  // namespace

extern "C" {

const char* dsm_last_error(void) { return g_error.c_str(); }

dsm_context_params dsm_context_default_params(void) { return {0, 0, 0}; }

dsm_sampler_params dsm_sampler_default_params(void) {
    const dsm::SamplerParams d;
    return {d.temperature, d.top_k, d.top_p, d.min_p, d.repeat_penalty, d.frequency_penalty,
            d.presence_penalty, d.penalty_last_n, d.seed};
}

dsm_model* dsm_model_load(const char* path) { return dsm_model_load_with(path, 0); }

dsm_model* dsm_model_load_with(const char* path, uint32_t flags) {
    if (!check(path, "path")) return nullptr;
    constexpr uint32_t kKnown = DSM_LOAD_NO_REPACK | DSM_LOAD_HUGE_PAGES | DSM_LOAD_MLOCK;
    if (flags & ~kKnown) {
        g_error = "unknown load flags " + std::to_string(flags & ~kKnown);
        return nullptr;
    }
    dsm::LoadOptions o;
    o.repack = !(flags & DSM_LOAD_NO_REPACK);
    o.huge_pages = (flags & DSM_LOAD_HUGE_PAGES) != 0;
    o.lock_memory = (flags & DSM_LOAD_MLOCK) != 0;
    return guarded<dsm_model*>(nullptr, [&] { return new dsm_model{dsm::Model::load(path, o)}; });
}

void dsm_model_free(dsm_model* model) { delete model; }

int32_t dsm_model_n_vocab(const dsm_model* model) {
    if (!check(model, "model")) return -1;
    return int32_t(model->model->info().n_vocab);
}

int32_t dsm_tokenize(const dsm_model* model, const char* text, size_t text_len, int add_special, int parse_special,
                     int32_t* ids, int32_t capacity) {
    if (!check(model, "model") || !check(text, "text")) return INT32_MIN;
    return guarded<int32_t>(INT32_MIN, [&] {
        const auto out = model->model->tokenize(std::string_view(text, text_len), add_special != 0, parse_special != 0);
        const auto n = int32_t(out.size());
        if (n > capacity) return -n;
        if (n && !ids) throw dsm::Error("ids is NULL");
        std::copy(out.begin(), out.end(), ids);
        return n;
    });
}

int32_t dsm_token_to_piece(const dsm_model* model, int32_t token, char* buf, int32_t capacity) {
    if (!check(model, "model")) return INT32_MIN;
    return guarded<int32_t>(INT32_MIN, [&] { return copy_out(model->model->token_to_piece(token), buf, capacity); });
}

int dsm_is_end_of_generation(const dsm_model* model, int32_t token) {
    return model && model->model->is_end_of_generation(token) ? 1 : 0;
}

dsm_context* dsm_context_new(dsm_model* model, dsm_context_params params) {
    if (!check(model, "model")) return nullptr;
    return guarded<dsm_context*>(nullptr, [&] {
        dsm::ContextParams cp;
        cp.n_ctx = params.n_ctx;
        cp.n_threads = params.n_threads;
        cp.kv_type = params.kv_f32 ? dsm::KvCacheType::F32 : dsm::KvCacheType::F16;
        return new dsm_context{model->model, model->model->create_context(cp)};
    });
}

void dsm_context_free(dsm_context* ctx) { delete ctx; }

int dsm_eval(dsm_context* ctx, const int32_t* tokens, int32_t n, float* logits) {
    if (!check(ctx, "ctx") || !check(tokens, "tokens")) return -1;
    return guarded<int>(-1, [&] {
        if (n <= 0) throw dsm::Error("dsm_eval: n must be positive, got " + std::to_string(n));
        ctx->ctx->set_input("input_ids", dsm::Tensor::tokens(std::span<const int32_t>(tokens, size_t(n))));
        ctx->ctx->invoke();
        if (logits) {
            const dsm::Tensor& out = ctx->ctx->get_output("logits");
            std::memcpy(logits, out.f32(), size_t(out.numel()) * sizeof(float));
        }
        return 0;
    });
}

int32_t dsm_generate(dsm_context* ctx, const int32_t* prompt, int32_t n_prompt, int32_t max_tokens,
                     const dsm_sampler_params* sampling, dsm_token_callback on_token, void* user_data) {
    if (!check(ctx, "ctx") || (n_prompt > 0 && !check(prompt, "prompt"))) return -1;
    return guarded<int32_t>(-1, [&] {
        dsm::SamplerParams sp;
        if (sampling) {
            sp.temperature = sampling->temperature;
            sp.top_k = sampling->top_k;
            sp.top_p = sampling->top_p;
            sp.min_p = sampling->min_p;
            sp.repeat_penalty = sampling->repeat_penalty;
            sp.frequency_penalty = sampling->frequency_penalty;
            sp.presence_penalty = sampling->presence_penalty;
            sp.penalty_last_n = sampling->penalty_last_n;
            sp.seed = sampling->seed;
        }
        int32_t n = 0;
        const auto st = ctx->ctx->generate(
            std::span<const int32_t>(prompt, size_t(std::max(0, n_prompt))), max_tokens, sp, [&](int32_t tok) {
                ++n;
                return on_token ? on_token(tok, user_data) != 0 : true;
            });
        (void)st;
        return n;
    });
}

int32_t dsm_n_past(const dsm_context* ctx) { return ctx ? ctx->ctx->n_past() : -1; }

void dsm_clear(dsm_context* ctx) {
    if (ctx) ctx->ctx->clear();
}

}  // extern "C"
