// Scalar dot products of the k-quants with Q8_K activations. Per super-block the
// sums of (sub-block scale x level x activation) and, for the affine types, of
// (sub-block min x activation-group sum) are exact integers; they are scaled by
// the float super-block factors (fp16 weight scale x float activation scale) as
// ggml does.
#include "core/fp16.hpp"
#include "kernels/scalar/scalar.hpp"
#include "quant/blocks.hpp"
#include "quant/unpack.hpp"

namespace dsm::kernels::scalar {
namespace {

using quant_detail::k4_scale_min;
using quant_detail::q3k_scale;

// Sum over one sub-block of len levels times activations.
inline int dot_levels(const int8_t* levels, const int8_t* q8, int len) {
    int sum = 0;
    for (int l = 0; l < len; ++l) sum += levels[l] * q8[l];
    return sum;
}

// The 2-bit fields of a Q2_K / Q3_K qs array as levels 0..3, in element order.
inline void unpack_2bit(const uint8_t* qs, int8_t* levels) {
    for (int half = 0; half < 2; ++half)
        for (int k = 0; k < 4; ++k)
            for (int l = 0; l < 32; ++l) levels[128 * half + 32 * k + l] = int8_t((qs[32 * half + l] >> (2 * k)) & 3);
}

// Q4_K / Q5_K integer parts: sum_j scale_j * dot_j and sum_j min_j * (activation sum of j).
struct AffineSums {
    int scaled = 0, mins = 0;
};

inline AffineSums k4_sums(const uint8_t* packed_scales, const int8_t* levels, const BlockQ8_K& y) {
    AffineSums s;
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        k4_scale_min(packed_scales, j, sc, m);
        s.scaled += sc * dot_levels(levels + 32 * j, y.qs + 32 * j, 32);
        s.mins += m * (y.bsums[2 * j] + y.bsums[2 * j + 1]);
    }
    return s;
}

}  // namespace

void vec_dot_q2_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ2_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t levels[kQK_K];
        unpack_2bit(a[i].qs, levels);
        int scaled = 0, mins = 0;
        for (int j = 0; j < 16; ++j) {
            scaled += (a[i].scales[j] & 0x0f) * dot_levels(levels + 16 * j, b[i].qs + 16 * j, 16);
            mins += (a[i].scales[j] >> 4) * b[i].bsums[j];
        }
        const float dall = b[i].d * fp16_to_f32(a[i].d);
        const float dmin = b[i].d * fp16_to_f32(a[i].dmin);
        sum += dall * float(scaled) - dmin * float(mins);
    }
    *out = sum;
}

void vec_dot_q3_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ3_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t levels[kQK_K];
        unpack_2bit(a[i].qs, levels);
        // hmask bit e/32 of byte e%32 clear: the level is 4 lower.
        for (int bit = 0; bit < 8; ++bit)
            for (int l = 0; l < 32; ++l) levels[32 * bit + l] = int8_t(levels[32 * bit + l] - (((a[i].hmask[l] >> bit) & 1) ? 0 : 4));
        int scaled = 0;
        for (int j = 0; j < 16; ++j) scaled += q3k_scale(a[i].scales, j) * dot_levels(levels + 16 * j, b[i].qs + 16 * j, 16);
        sum += fp16_to_f32(a[i].d) * b[i].d * float(scaled);
    }
    *out = sum;
}

void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ4_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t levels[kQK_K];
        for (int chunk = 0; chunk < 4; ++chunk) {
            for (int l = 0; l < 32; ++l) {
                levels[64 * chunk + l] = int8_t(a[i].qs[32 * chunk + l] & 0x0f);
                levels[64 * chunk + 32 + l] = int8_t(a[i].qs[32 * chunk + l] >> 4);
            }
        }
        const AffineSums s = k4_sums(a[i].scales, levels, b[i]);
        const float d = fp16_to_f32(a[i].d) * b[i].d;
        const float dmin = fp16_to_f32(a[i].dmin) * b[i].d;
        sum += d * float(s.scaled) - dmin * float(s.mins);
    }
    *out = sum;
}

void vec_dot_q5_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ5_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t levels[kQK_K];
        for (int chunk = 0; chunk < 4; ++chunk) {
            for (int l = 0; l < 32; ++l) {
                const uint8_t q = a[i].qs[32 * chunk + l], h = a[i].qh[l];
                levels[64 * chunk + l] = int8_t((q & 0x0f) | (((h >> (2 * chunk)) & 1) << 4));
                levels[64 * chunk + 32 + l] = int8_t((q >> 4) | (((h >> (2 * chunk + 1)) & 1) << 4));
            }
        }
        const AffineSums s = k4_sums(a[i].scales, levels, b[i]);
        const float d = fp16_to_f32(a[i].d) * b[i].d;
        const float dmin = fp16_to_f32(a[i].dmin) * b[i].d;
        sum += d * float(s.scaled) - dmin * float(s.mins);
    }
    *out = sum;
}

void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ6_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int8_t levels[kQK_K];
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = a[i].ql + 64 * half;
            const uint8_t* qh = a[i].qh + 32 * half;
            for (int k = 0; k < 4; ++k) {
                for (int l = 0; l < 32; ++l) {
                    const int low = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0x0f;
                    const int high = (qh[l] >> (2 * k)) & 3;
                    levels[128 * half + 32 * k + l] = int8_t((low | (high << 4)) - 32);
                }
            }
        }
        int scaled = 0;
        for (int j = 0; j < 16; ++j) scaled += a[i].scales[j] * dot_levels(levels + 16 * j, b[i].qs + 16 * j, 16);
        sum += fp16_to_f32(a[i].d) * b[i].d * float(scaled);
    }
    *out = sum;
}

}  // namespace dsm::kernels::scalar
