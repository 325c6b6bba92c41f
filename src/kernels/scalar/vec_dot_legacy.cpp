// Scalar dot products of the 32-element block types with 8-bit activations.
// Per block the integer dot product is exact; it is scaled by the product of the
// two fp16 scales (exact in float), as ggml does, and summed in float.
#include <cstring>

#include "core/fp16.hpp"
#include "kernels/scalar/scalar.hpp"
#include "quant/blocks.hpp"

namespace dsm::kernels::scalar {
namespace {

// The 32 5-bit levels of a Q5 block (nibble plus the bit from qh) minus `bias`.
inline void q5_levels(const uint8_t qs[16], const uint8_t qh[4], int bias, int8_t out[32]) {
    uint32_t high;
    std::memcpy(&high, qh, 4);
    for (int j = 0; j < 16; ++j) {
        out[j] = int8_t(((qs[j] & 0x0f) | int(((high >> j) & 1u) << 4)) - bias);
        out[j + 16] = int8_t(((qs[j] >> 4) | int(((high >> (j + 16)) & 1u) << 4)) - bias);
    }
}

inline int dot32(const int8_t* a, const int8_t* b) {
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += a[j] * b[j];
    return sum;
}

}  // namespace

void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK4_0; ++i) {
        int isum = 0;
        for (int j = 0; j < 16; ++j)
            isum += ((a[i].qs[j] & 0x0f) - 8) * b[i].qs[j] + ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + 16];
        sum += float(isum) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d));
    }
    *out = sum;
}

void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK5_0; ++i) {
        int8_t levels[32];
        q5_levels(a[i].qs, a[i].qh, 16, levels);
        sum += float(dot32(levels, b[i].qs)) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d));
    }
    *out = sum;
}

void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ8_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK8_0; ++i) {
        int isum = 0;
        for (int j = 0; j < 32; ++j) isum += a[i].qs[j] * b[i].qs[j];
        sum += float(isum) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d));
    }
    *out = sum;
}

// Affine weights (x = d*q + m): sum d*q*y + m * sum(y), with sum(y) taken from the
// activation block's precomputed s = d_y * sum(q_y).
void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_1*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK4_1; ++i) {
        int isum = 0;
        for (int j = 0; j < 16; ++j) isum += (a[i].qs[j] & 0x0f) * b[i].qs[j] + (a[i].qs[j] >> 4) * b[i].qs[j + 16];
        sum += float(isum) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d)) + fp16_to_f32(a[i].m) * fp16_to_f32(b[i].s);
    }
    *out = sum;
}

void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_1*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK5_1; ++i) {
        int8_t levels[32];
        q5_levels(a[i].qs, a[i].qh, 0, levels);
        sum += float(dot32(levels, b[i].qs)) * (fp16_to_f32(a[i].d) * fp16_to_f32(b[i].d)) +
               fp16_to_f32(a[i].m) * fp16_to_f32(b[i].s);
    }
    *out = sum;
}

}  // namespace dsm::kernels::scalar
