// Internal: the scalar reference kernels that make up scalar_table(). Each vec_dot
// takes a weight row and an activation row (in activation_type of the weight
// type) of n elements, n a multiple of the weight type's block size.
#pragma once
#include <cstddef>
#include <cstdint>

namespace dsm::kernels::scalar {

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x);
void vec_dot_f16(int64_t n, float* out, const void* w, const void* x);
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x);

void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* x);  // x: Q8_0
void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* x);  // x: Q8_0
void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* x);  // x: Q8_0
void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* x);  // x: Q8_1
void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* x);  // x: Q8_1

void vec_dot_q2_k(int64_t n, float* out, const void* w, const void* x);  // x: Q8_K
void vec_dot_q3_k(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q5_k(int64_t n, float* out, const void* w, const void* x);
void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x);

// Attention and layer helpers (attention.cpp); see KernelTable in kernels.hpp.
void attn_scores_f32(int64_t n, int64_t nq, const float* q, int64_t q_stride, int64_t n_kv, const void* k,
                     size_t row_stride, float* s, int64_t s_stride);
void attn_scores_f16(int64_t n, int64_t nq, const float* q, int64_t q_stride, int64_t n_kv, const void* k,
                     size_t row_stride, float* s, int64_t s_stride);
void attn_values_f32(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                     size_t row_stride, float* o, int64_t o_stride);
void attn_values_f16(int64_t n, int64_t nq, const float* p, int64_t p_stride, int64_t n_kv, const void* v,
                     size_t row_stride, float* o, int64_t o_stride);
void swiglu(float* gate, const float* up, int64_t n);
float softmax(float* x, int64_t n, float scale);

void from_float_f32(const float* x, void* y, int64_t n);
void from_float_f16(const float* x, void* y, int64_t n);
void from_float_bf16(const float* x, void* y, int64_t n);

}  // namespace dsm::kernels::scalar
