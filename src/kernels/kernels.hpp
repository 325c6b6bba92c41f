// The one dispatch point for compute kernels. A KernelTable holds function pointers
// for one instruction set; active() picks the best table this CPU supports at
// start-up (overridable with DSM_KERNELS=scalar|avx2|avxvnni|avx512|amx|dotprod|i8mm or force()).
// Every table computes the same function as the scalar table, to float rounding.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "core/dtype.hpp"

namespace dsm::kernels {

// The activation type a weight type's dot product consumes: activations are
// converted to it once per row before the dot products (llama.cpp does the same,
// which is why our quantized results match its goldens).
//   F32 -> F32, F16 -> F16, BF16 -> BF16,
//   Q4_0, Q5_0, Q8_0 -> Q8_0;  Q4_1, Q5_1 -> Q8_1;  Q2_K..Q6_K -> Q8_K.
// Throws dsm::Error for a type that has no dot product (I8, Q8_K, ...).
DType activation_type(DType weight);

// *out = dot(w_row, x_row) over n elements; w_row is in the weight type, x_row in
// activation_type(weight type).
using VecDotFn = void (*)(int64_t n, float* out, const void* w_row, const void* x_row);
// Converts n floats to an activation type (Q8_0, Q8_1, Q8_K, F16, BF16, F32).
using FromFloatFn = void (*)(const float* x, void* y, int64_t n);

constexpr int kMaxTypeId = 31;

// Products for prompts (many tokens): a tile of weight rows times a tile of tokens,
// with weights and activations reused from registers. The result is the vec_dot
// of every (row, token) pair, up to float summation order.
//   out[t * out_stride + r] = dot(W row r, token t)   for r < n_rows, t < n_tokens,
// W rows w_stride bytes apart; x points to prepared token rows x_stride bytes apart.
using GemmFn = void (*)(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                        size_t x_stride, float* out, int64_t out_stride);
// Converts one activation row (activation_type of the weight type, n elements) into
// the gemm's token layout: prepared_block_bytes per activation block.
using GemmPrepareFn = void (*)(int64_t n, const void* x, void* prepared);

struct GemmKernel {
    GemmFn gemm = nullptr;           // null: the type has no gemm in this table (use vec_dot)
    GemmPrepareFn prepare = nullptr; // null: gemm reads the activation rows as they are
    uint32_t prepared_block_bytes = 0;
    uint32_t row_tile = 1;           // the kernel's row granularity; split work in multiples of it
    uint32_t min_tokens = 2;         // fewer tokens use the gemv entry (or vec_dot per pair)
};

// Grouped-query attention over KV cache rows of float or fp16 values (row j at byte
// offset j * row_stride of k / v): nq query heads that share one KV head.
//   attn_scores: s[h * s_stride + j] = dot(q + h * q_stride, K_j[0, n))      j < n_kv
//   attn_values: o[h * o_stride + i] = sum_j p[h * p_stride + j] * V_j[i]    i < n
using AttnScoresFn = void (*)(int64_t n, int64_t nq, const float* q, int64_t q_stride, int64_t n_kv, const void* k,
                              size_t row_stride, float* s, int64_t s_stride);
using AttnValuesFn = void (*)(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                              size_t row_stride, float* o, int64_t o_stride);
// Multi-query attention of one token over cache rows that every head shares as key
// (the whole row, n_k values) and as value (its first n_v values): MLA's absorbed form,
// where a row is [latent c | rotary key]. Rows [0, n_kv), j-th at j * row_stride bytes.
//   s_hj = scale * dot(q + h * q_stride, K_j),   p_hj = softmax_j(s_hj)
//   o[h * o_stride + i] = sum_j p_hj * K_j[i]    (i < n_v),
//   lse[h] = log sum_j exp(s_hj)   so that results over disjoint row ranges merge exactly.
using AttnMqaFn = void (*)(int64_t n_k, int64_t n_v, int64_t nq, const float* q, int64_t q_stride, float scale,
                           int64_t n_kv, const void* rows, size_t row_stride, float* o, int64_t o_stride,
                           float* lse);
// Element-wise layer functions: gate = silu(gate) * up; x = softmax(x * scale), which
// returns log sum_i exp(x_i * scale) (the normaliser, for merging partial softmaxes).
using SwigluFn = void (*)(float* gate, const float* up, int64_t n);
using SoftmaxFn = float (*)(float* x, int64_t n, float scale);

// Weights rearranged once, at load, into a layout a table's kernel reads faster than
// the file's rows (groups of group_rows rows interleaved; the table's source file
// describes it). The packed copy of a matrix has the file's bytes per row, rows
// rounded up to whole groups, so group g starts at g * group_rows * row_bytes.
// pack() writes rows [0, rows) (w_stride bytes apart) with the last group padded by
// zero rows; kernel.gemm then reads groups as if they were rows (w = the first row
// of a group, w_stride = the file's row bytes) for any number of tokens.
using PackFn = void (*)(int64_t cols, int64_t rows, const void* w, size_t w_stride, void* packed);
struct PackedKernel {
    uint32_t group_rows = 0;  // 0: this type has no packed layout in this table
    PackFn pack = nullptr;
    GemmKernel kernel;        // row_tile == group_rows
};

struct KernelTable {
    std::string_view isa;                 // "scalar", "avx2", "avxvnni", "avx512", "amx", "dotprod", "i8mm"
    VecDotFn vec_dot[kMaxTypeId]{};       // indexed by weight type id; null = unsupported
    FromFloatFn from_float[kMaxTypeId]{}; // indexed by activation type id
    GemmKernel gemm[kMaxTypeId]{};        // indexed by weight type id; optional
    GemmKernel gemv[kMaxTypeId]{};        // the same contract for fewer tokens than gemm's min_tokens
                                          // (decode): no repacking, activations prepared once
    PackedKernel packed[kMaxTypeId]{};    // optional; used where the model packed its weights at load
    AttnScoresFn attn_scores[2]{};        // [0]: float cache, [1]: fp16 cache
    AttnValuesFn attn_values[2]{};
    AttnMqaFn attn_mqa[2]{};              // optional fused form; null: attn_mqa() composes it
    SwigluFn swiglu = nullptr;
    SoftmaxFn softmax = nullptr;
};

const KernelTable& scalar_table();

// Runs t.attn_mqa[f16], or where the table has none, the same function composed from
// t.attn_scores, t.softmax and t.attn_values (with the scalar table: the reference).
void attn_mqa(const KernelTable& t, int f16, int64_t n_k, int64_t n_v, int64_t nq, const float* q,
              int64_t q_stride, float scale, int64_t n_kv, const void* rows, size_t row_stride, float* o,
              int64_t o_stride, float* lse);
// The table in use. Thread-safe after first call.
const KernelTable& active();
// Forces a table by name ("scalar", "avx2", ...; "auto" = the best one); returns
// false if the name is unknown or this CPU lacks it.
bool force(std::string_view isa);

// Names of the tables this CPU can run, best first (the last is "scalar").
std::vector<std::string_view> available();
// The table for isa as active() would use it (entries the ISA does not provide
// are taken from the scalar table); nullptr if unknown or unsupported here.
const KernelTable* find(std::string_view isa);

// CPU features the tables depend on, detected once. Each flag means that every
// extension the matching source files are compiled with is present.
struct CpuFeatures {
    bool avx2 = false;     // AVX2 + FMA + F16C                      (*_avx2.cpp)
    bool avxvnni = false;  // + AVX-VNNI                             (*_avxvnni.cpp)
    bool avx512 = false;   // AVX-512 F/BW/VL/DQ/VNNI/BF16 + avx2    (*_avx512.cpp)
    bool amx = false;      // + AMX tiles and int8, which the OS let us use (*_amx.cpp)
    bool dotprod = false;  // ARMv8.2 dot product + fp16 arithmetic  (*_dotprod.cpp)
    bool i8mm = false;     // + int8 matrix multiply                 (*_i8mm.cpp)
};
const CpuFeatures& cpu_features();

}  // namespace dsm::kernels
