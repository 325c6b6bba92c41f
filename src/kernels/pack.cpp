#include "kernels/pack.hpp"

#include <algorithm>

#include "core/error.hpp"

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

void pack_on_demand(const KernelTable& t, Weight& w, uint8_t* dst, PackOnDemand& state) {
    const PackedKernel& pk = t.packed[int(w.type)];
    w.packed = dst;
    w.packed_for = &pk;
    w.packed_mat_stride = packed_matrix_bytes(pk, w);
    w.pack_on_demand = &state;
}

PackOnDemand::PackOnDemand(int64_t n_mat, std::function<void(const Weight&)> done)
    : once_(new std::once_flag[size_t(n_mat)]), n_mat_(n_mat), done_(std::move(done)) {}

void PackOnDemand::ensure(const Weight& m) {
    if (m.index < 0 || m.index >= n_mat_ || m.n_mat != 1) throw Error("PackOnDemand: not one matrix of the stack");
    std::call_once(once_[size_t(m.index)], [&] {
        const auto& pk = *static_cast<const PackedKernel*>(m.packed_for);
        pk.pack(m.cols, m.rows, m.data, m.row_stride, const_cast<uint8_t*>(m.packed));
        if (done_) done_(m);
    });
}

}  // namespace dsm::kernels
