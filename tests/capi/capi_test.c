/* Compiled as C: the header must be valid C and usable without C++. */
#include "dsm/dsm.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    int32_t tokens[64];
    int n;
} collected;

static int collect(int32_t token, void* user) {
    collected* c = (collected*)user;
    if (c->n < 64) c->tokens[c->n++] = token;
    return 1;
}

/* Greedy continuation of `prompt` from a C program; returns the count or -1. */
int capi_greedy_from_c(const char* model_path, const char* prompt, int32_t* out, int max) {
    dsm_model* m = dsm_model_load(model_path);
    if (!m) return -1;
    int32_t ids[256];
    int32_t n = dsm_tokenize(m, prompt, strlen(prompt), 1, 0, ids, 256);
    dsm_context_params cp = dsm_context_default_params();
    cp.n_threads = 1;
    dsm_context* ctx = dsm_context_new(m, cp);
    dsm_sampler_params sp = dsm_sampler_default_params();
    sp.temperature = 0;
    collected c;
    c.n = 0;
    int32_t got = dsm_generate(ctx, ids, n, max, &sp, collect, &c);
    for (int i = 0; i < c.n; ++i) out[i] = c.tokens[i];
    dsm_context_free(ctx);
    dsm_model_free(m);
    return got;
}
