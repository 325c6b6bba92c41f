// Scalar dot products and activation conversions of the plain float types.
// Products are summed in double: this is the reference the SIMD tables (which
// sum float lanes) are compared against.
#include <cstring>

#include "core/fp16.hpp"
#include "kernels/scalar/scalar.hpp"

namespace dsm::kernels::scalar {

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const float*>(w);
    const auto* b = static_cast<const float*>(x);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += double(a[i]) * double(b[i]);
    *out = float(sum);
}

void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const uint16_t*>(w);
    const auto* b = static_cast<const uint16_t*>(x);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += double(fp16_to_f32(a[i])) * double(fp16_to_f32(b[i]));
    *out = float(sum);
}

void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const uint16_t*>(w);
    const auto* b = static_cast<const uint16_t*>(x);
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += double(bf16_to_f32(a[i])) * double(bf16_to_f32(b[i]));
    *out = float(sum);
}

void from_float_f32(const float* x, void* y, int64_t n) {
    if (n > 0) std::memcpy(y, x, size_t(n) * sizeof(float));
}

void from_float_f16(const float* x, void* y, int64_t n) {
    auto* h = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_fp16(x[i]);
}

void from_float_bf16(const float* x, void* y, int64_t n) {
    auto* h = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < n; ++i) h[i] = f32_to_bf16(x[i]);
}

}  // namespace dsm::kernels::scalar
