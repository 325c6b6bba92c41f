// Packing weights once, at load, into the layout of a kernel table's packed kernels
// (KernelTable::packed). The packed copy is private memory the size of the matrix
// (rows rounded up to whole groups); the file's rows stay mapped for everything else.
#pragma once
#include <cstddef>
#include <cstdint>

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

}  // namespace dsm::kernels
