// AVX2 table (placeholder while the kernels are written): every entry falls back to scalar.
#include "kernels/kernels.hpp"

namespace dsm::kernels {

const KernelTable& avx2_table() {
    static const KernelTable table = [] {
        KernelTable t;
        t.isa = "avx2";
        return t;
    }();
    return table;
}

}  // namespace dsm::kernels
