// Internal: pieces of avx512_table() that live in separate files. Only files
// compiled with the AVX-512 flags (*_avx512.cpp) include this.
#pragma once
#include "kernels/kernels.hpp"

namespace dsm::kernels::avx512 {

// Fills the gemm entries of the AVX-512 table (gemm_avx512.cpp).
void set_gemm_kernels(KernelTable& t);
// Fills the gemv entries (gemv_avx512.cpp).
void set_gemv_kernels(KernelTable& t);
// Fills the attention and layer entries (attention_avx512.cpp).
void set_layer_kernels(KernelTable& t);

}  // namespace dsm::kernels::avx512
