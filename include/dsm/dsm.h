/* libdsm C API: load a GGUF model, tokenize, evaluate, generate.
 * Every function that can fail returns an error value (NULL, -1 or a negative
 * count) and leaves a message for dsm_last_error() on the calling thread.
 * Objects are not thread-safe: use one context per thread. */
#ifndef DSM_H
#define DSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dsm_model dsm_model;
typedef struct dsm_context dsm_context;

typedef struct {
    int32_t n_ctx;     /* 0: the model's training context, at most 4096 */
    int32_t n_threads; /* 0: all cores */
    int32_t kv_f32;    /* nonzero: F32 KV cache instead of F16 */
} dsm_context_params;

typedef struct {
    float temperature; /* <= 0: greedy */
    int32_t top_k;
    float top_p, min_p;
    float repeat_penalty, frequency_penalty, presence_penalty;
    int32_t penalty_last_n;
    uint64_t seed;
} dsm_sampler_params;

/* Message of the last failure on this thread ("" if none). */
const char* dsm_last_error(void);

dsm_context_params dsm_context_default_params(void);
dsm_sampler_params dsm_sampler_default_params(void);

dsm_model* dsm_model_load(const char* path);
/* Loading flags (dsm_model_load = dsm_model_load_with(path, 0)); see LoadOptions in dsm.hpp. */
enum {
    DSM_LOAD_NO_REPACK = 1,  /* read every weight in place from the mapped file (zero copy) */
    DSM_LOAD_HUGE_PAGES = 2, /* put weights packed at load on transparent huge pages */
    DSM_LOAD_MLOCK = 4       /* lock the model file's pages in memory */
};
dsm_model* dsm_model_load_with(const char* path, uint32_t flags);
void dsm_model_free(dsm_model* model);
int32_t dsm_model_n_vocab(const dsm_model* model);

/* Writes up to `capacity` ids; returns the number of ids, or minus the number needed
 * if `capacity` is too small, or INT32_MIN on error. */
int32_t dsm_tokenize(const dsm_model* model, const char* text, size_t text_len, int add_special, int parse_special,
                     int32_t* ids, int32_t capacity);
/* Writes the token's bytes (not NUL-terminated); returns their count, minus the
 * count needed if `capacity` is too small, or INT32_MIN on error. */
int32_t dsm_token_to_piece(const dsm_model* model, int32_t token, char* buf, int32_t capacity);
int dsm_is_end_of_generation(const dsm_model* model, int32_t token);

/* The context keeps a reference to the model; free contexts before the model or not,
 * either order is safe. */
dsm_context* dsm_context_new(dsm_model* model, dsm_context_params params);
void dsm_context_free(dsm_context* ctx);

/* Appends n tokens to the cache and runs them; writes n * n_vocab logits if
 * `logits` is not NULL. Returns 0, or -1 on error (bad id, context overflow). */
int dsm_eval(dsm_context* ctx, const int32_t* tokens, int32_t n, float* logits);

/* Called for each generated token; return 0 to stop. */
typedef int (*dsm_token_callback)(int32_t token, void* user_data);
/* Feeds the prompt, then samples up to max_tokens tokens (stops at end-of-generation
 * tokens). Returns the number generated, or -1 on error. The cache keeps the
 * conversation for the next call. */
int32_t dsm_generate(dsm_context* ctx, const int32_t* prompt, int32_t n_prompt, int32_t max_tokens,
                     const dsm_sampler_params* sampling, dsm_token_callback on_token, void* user_data);

int32_t dsm_n_past(const dsm_context* ctx);
void dsm_clear(dsm_context* ctx);

#ifdef __cplusplus
}
#endif

#endif /* DSM_H */
