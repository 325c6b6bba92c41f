// Attention functions composed from the entries of a kernel table, for tables that
// have no fused form of their own.
#include <algorithm>
#include <vector>

#include "kernels/kernels.hpp"

namespace dsm::kernels {

void attn_mqa(const KernelTable& t, int f16, int64_t n_k, int64_t n_v, int64_t nq, const float* q,
              int64_t q_stride, float scale, int64_t n_kv, const void* rows, size_t row_stride, float* o,
              int64_t o_stride, float* lse) {
    if (t.attn_mqa[f16]) {
        t.attn_mqa[f16](n_k, n_v, nq, q, q_stride, scale, n_kv, rows, row_stride, o, o_stride, lse);
        return;
    }
    // Scores of every head first: the heads share each row read (multi-query).
    thread_local std::vector<float> scores;
    scores.resize(size_t(nq * n_kv));
    t.attn_scores[f16](n_k, nq, q, q_stride, n_kv, rows, row_stride, scores.data(), n_kv);
    for (int64_t h = 0; h < nq; ++h) lse[h] = t.softmax(scores.data() + h * n_kv, n_kv, scale);
    t.attn_values[f16](n_v, nq, scores.data(), n_kv, n_kv, rows, row_stride, o, o_stride);
}

}  // namespace dsm::kernels
