#include "kernels/pack.hpp"

#include <algorithm>

namespace dsm::kernels {
namespace {

size_t packed_matrix_bytes(const PackedKernel& pk, const Weight& w) {
    const int64_t groups = (w.rows + pk.group_rows - 1) / pk.group_rows;
    return size_t(groups) * pk.group_rows * row_bytes(w.type, w.cols);
}

}  // namespace

size_t packed_bytes(const KernelTable& t, const Weight& w) {
    const PackedKernel& pk = t.packed[int(w.type)];
    if (!pk.pack || w.empty() || w.row_stride != row_bytes(w.type, w.cols)) return 0;
    return packed_matrix_bytes(pk, w) * size_t(w.n_mat);
}

void pack(const KernelTable& t, Weight& w, uint8_t* dst, ThreadPool& pool) {
    const PackedKernel& pk = t.packed[int(w.type)];
    const size_t mat_bytes = packed_matrix_bytes(pk, w), group_bytes = pk.group_rows * w.row_stride;
    const int64_t groups = int64_t(mat_bytes / group_bytes);
    // Tasks of a few groups each, over every matrix of the stack.
    const int64_t per_task = std::max<int64_t>(1, int64_t((size_t(1) << 20) / group_bytes));
    const int64_t tasks_per_mat = (groups + per_task - 1) / per_task;
    pool.parallel_for(tasks_per_mat * w.n_mat, [&](int64_t task, int) {
        const Weight m = w.matrix(task / tasks_per_mat);
        const int64_t g0 = (task % tasks_per_mat) * per_task, g1 = std::min(groups, g0 + per_task);
        const int64_t r0 = g0 * pk.group_rows, rows = std::min(m.rows, g1 * pk.group_rows) - r0;
        uint8_t* out = dst + size_t(task / tasks_per_mat) * mat_bytes + size_t(g0) * group_bytes;
        pk.pack(w.cols, rows, m.row(r0), w.row_stride, out);
    });
    w.packed = dst;
    w.packed_for = &pk;
    w.packed_mat_stride = mat_bytes;
}

}  // namespace dsm::kernels
