// Internal: the scalar reference kernels that make up scalar_table(). Each vec_dot
// takes a weight row and an activation row (in activation_type of the weight
// type) of n elements, n a multiple of the weight type's block size.
#pragma once
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

void from_float_f32(const float* x, void* y, int64_t n);
void from_float_f16(const float* x, void* y, int64_t n);
void from_float_bf16(const float* x, void* y, int64_t n);

}  // namespace dsm::kernels::scalar
