// Packing weights once, at load, into the layout of a kernel table's packed kernels
// (KernelTable::packed). The packed copy is private memory the size of the matrix
// (rows rounded up to whole groups); the file's rows stay mapped for everything else.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>

#include "core/thread_pool.hpp"
#include "core/weight.hpp"
#include "kernels/kernels.hpp"

namespace dsm::kernels {

// Bytes of the packed copy of w (all its stacked matrices) for table t; 0 when t has
// no packed layout for w's type.
size_t packed_bytes(const KernelTable& t, const Weight& w);

// Writes the packed copy of w to dst (packed_bytes(t, w) bytes, 64-byte aligned) and
// points w at it; matmul uses it while t is the active table.
void pack(const KernelTable& t, Weight& w, uint8_t* dst, ThreadPool& pool);

// Packing of a stack's matrices (routed experts) deferred to each one's first product:
// loading stays fast, and experts never routed to take no memory. Thread-safe.
class PackOnDemand {
public:
    // done(matrix) runs once a matrix is packed (to release its file pages).
    PackOnDemand(int64_t n_mat, std::function<void(const Weight&)> done);
    // Packs `matrix` (a Weight::matrix of the stack) unless that has happened.
    void ensure(const Weight& matrix);

private:
    std::unique_ptr<std::once_flag[]> once_;
    int64_t n_mat_;
    std::function<void(const Weight&)> done_;
};

// Like pack(), but leaves every matrix of w to `state` (made for w.n_mat matrices).
void pack_on_demand(const KernelTable& t, Weight& w, uint8_t* dst, PackOnDemand& state);

}  // namespace dsm::kernels
