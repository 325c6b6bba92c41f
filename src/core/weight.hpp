// A matrix (or stack of matrices, for experts) of `rows` rows of `cols` elements,
// row-major, in any tensor type. Zero-copy: data points into the mapped file or
// into storage the model owns.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/dtype.hpp"

namespace dsm {
namespace kernels { class PackOnDemand; }

struct Weight {
    DType type = DType::F32;
    int64_t cols = 0, rows = 0, n_mat = 1;
    const uint8_t* data = nullptr;
    size_t row_stride = 0;  // bytes per row
    size_t mat_stride = 0;  // bytes between stacked matrices (0: rows * row_stride)
    const std::string* name = nullptr;  // tensor name in the file (for statistics), if any
    int64_t index = -1;                 // which matrix of a stack this is (experts), else -1
    // The same matrices rearranged for a kernel table's packed layout (kernels/pack.hpp);
    // products use them while that table is active and the rows above otherwise.
    const uint8_t* packed = nullptr;
    const void* packed_for = nullptr;   // the KernelTable::packed entry that wrote them
    size_t packed_mat_stride = 0;       // bytes between packed matrices of a stack
    kernels::PackOnDemand* pack_on_demand = nullptr;  // set: a matrix is packed at its first product

    bool empty() const { return data == nullptr; }
    const uint8_t* row(int64_t r) const { return data + size_t(r) * row_stride; }
    // Matrix e of a stacked [n_mat][rows][cols] tensor.
    Weight matrix(int64_t e) const {
        Weight w = *this;
        w.n_mat = 1;
        w.data = data + size_t(e) * (mat_stride ? mat_stride : size_t(rows) * row_stride);
        w.mat_stride = 0;
        w.index = e;
        if (packed) w.packed = packed + size_t(e) * packed_mat_stride;
        return w;
    }
};

}  // namespace dsm
