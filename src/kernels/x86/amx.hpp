// Internal: Intel AMX tile helpers shared by the *_amx.cpp kernels (compiled with the
// AVX-512 and AMX flags).
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/kernels.hpp"

namespace dsm::kernels::amx {

// The tile shapes the kernels use; a thread loads the one a kernel needs (ldtilecfg)
// when it differs from the last one it loaded.
//   Blocks32: results 0 .. 3 (16 x 16 int32), activations 4, 5 (16 x 32 bytes),
//             levels 6, 7 (8 rows of 64 bytes: 32 levels of 16 weight rows).
//   Blocks64: every tile 16 rows of 64 bytes (activations 16 x 64, levels 64 of 16 rows).
enum class TileShape { Blocks32, Blocks64 };
void configure_tiles(TileShape shape);

// The tile instructions, written here rather than with GCC's intrinsics, which take
// the register number as text and do not tell the compiler what memory they touch.
template <int T>
inline void tile_zero() {
    asm volatile("tilezero %%tmm%c0" : : "i"(T));
}
template <int T>
inline void tile_load(const void* p, size_t stride) {
    asm volatile("tileloadd (%0,%1,1), %%tmm%c2" : : "r"(p), "r"(stride), "i"(T) : "memory");
}
template <int T>
inline void tile_store(int32_t (&out)[256]) {
    asm volatile("tilestored %%tmm%c2, (%1,%3,1)" : "=m"(out) : "r"(&out[0]), "i"(T), "r"(size_t(64)));
}
// C += A . B (signed bytes; tdpbssd).
template <int C, int A, int B>
inline void tile_dot() {
    asm volatile("tdpbssd %%tmm%c2, %%tmm%c1, %%tmm%c0" : : "i"(C), "i"(A), "i"(B));
}

// Packed Q4_K (gemm_packed_avx512.cpp) times 16-token tiles, from gemm_q4_k_amx.cpp;
// the tokens after the last full tile go to vnni (the AVX-512 packed kernel).
void gemm_packed_q4_k(GemmFn vnni, int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride,
                      const void* x, size_t x_stride, float* out, int64_t out_stride);

}  // namespace dsm::kernels::amx
