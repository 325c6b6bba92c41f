// Scalar dot products and activation conversions of the plain float types.
// Products are summed in double (in four interleaved partial sums, which keeps
// the result deterministic but lets the additions overlap): this is the reference
// the SIMD tables, which sum float lanes, are compared against.
#include <cstring>

#include "core/fp16.hpp"
#include "kernels/scalar/scalar.hpp"

namespace dsm::kernels::scalar {
namespace {

template <typename T, typename ToFloat>
float dot_in_double(int64_t n, const void* w, const void* x, ToFloat to_float) {
    const auto* a = static_cast<const T*>(w);
    const auto* b = static_cast<const T*>(x);
    double s[4] = {0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        for (int k = 0; k < 4; ++k) s[k] += double(to_float(a[i + k])) * double(to_float(b[i + k]));
    for (; i < n; ++i) s[0] += double(to_float(a[i])) * double(to_float(b[i]));
    return float((s[0] + s[1]) + (s[2] + s[3]));
}

}  // namespace

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<float>(n, w, x, [](float v) { return v; });
}

void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<uint16_t>(n, w, x, fp16_to_f32);
}

void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<uint16_t>(n, w, x, bf16_to_f32);
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
