// Internal: pieces of the ARM tables that live in separate files. Only files
// compiled with the dotprod (or i8mm) flags include this.
#pragma once
#include "kernels/kernels.hpp"

namespace dsm::kernels {

const KernelTable& dotprod_table();

namespace arm {

// Attention over the KV cache, SwiGLU and softmax with NEON (attention_dotprod.cpp).
void set_layer_kernels(KernelTable& t);
// Tiles of 4 rows x tokens with sdot (gemm_dotprod.cpp).
void set_dotprod_gemm(KernelTable& t);

}  // namespace arm
}  // namespace dsm::kernels
