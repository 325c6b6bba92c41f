// ARMv8.2 NEON table with the dot-product extension (sdot: 4 x int8 products into
// each int32 lane): dot products of one weight row with one activation row, the
// activation conversions, and the attention / layer helpers.
//
// sdot multiplies signed bytes by signed bytes, so every format's levels are used
// with their sign (Q4_0: q - 8, Q6_K: q - 32, ...) and no bias term is needed; the
// integer dots are exact like the scalar ones, only the float summation order differs.
// from_float: the scalar quantizers' arithmetic lane by lane (identical bytes).
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.hpp"
#include "kernels/arm/arm.hpp"
#include "kernels/kernels.hpp"
#include "quant/blocks.hpp"
#include "quant/unpack.hpp"

namespace dsm::kernels {
namespace dotprod {
namespace {

// Keeps a product from being fused with a later add (the reference rounds it first).
inline float32x4_t materialized(float32x4_t v) {
    asm("" : "+w"(v));
    return v;
}

inline float fp16(uint16_t h) { return fp16_to_f32(h); }
inline int8x16_t load16(const void* p) { return vld1q_s8(static_cast<const int8_t*>(p)); }
inline uint8x16_t load16u(const void* p) { return vld1q_u8(static_cast<const uint8_t*>(p)); }

// ---- plain float types: products exact in double, summed in double lanes.

template <typename T, typename Load4, typename ToFloat>
float dot_in_double(int64_t n, const void* w, const void* x, Load4 load4, ToFloat to_float) {
    const auto* a = static_cast<const T*>(w);
    const auto* b = static_cast<const T*>(x);
    float64x2_t s0 = vdupq_n_f64(0), s1 = vdupq_n_f64(0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t va = load4(a + i), vb = load4(b + i);
        s0 = vfmaq_f64(s0, vcvt_f64_f32(vget_low_f32(va)), vcvt_f64_f32(vget_low_f32(vb)));
        s1 = vfmaq_f64(s1, vcvt_high_f64_f32(va), vcvt_high_f64_f32(vb));
    }
    double sum = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; ++i) sum += double(to_float(a[i])) * double(to_float(b[i]));
    return float(sum);
}

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<float>(n, w, x, [](const float* p) { return vld1q_f32(p); }, [](float v) { return v; });
}
void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<uint16_t>(
        n, w, x, [](const uint16_t* p) { return vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(p))); }, fp16_to_f32);
}
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<uint16_t>(
        n, w, x, [](const uint16_t* p) { return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(p), 16)); }, bf16_to_f32);
}

// ---- 32-element blocks against Q8_0 / Q8_1 activations.

// Signed levels of a 4-bit block in element order: low nibbles then high nibbles, minus bias.
inline void nibble_levels(const uint8_t* qs, int8_t bias, int8x16_t& lo, int8x16_t& hi) {
    const uint8x16_t q = load16u(qs);
    lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), vdupq_n_s8(bias));
    hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(bias));
}

// 0x10 in the bytes whose bit is set in the 32-bit mask (bit e: element e), as two halves.
inline void fifth_bits(const uint8_t* qh, uint8x16_t& lo, uint8x16_t& hi) {
    uint32_t h;
    std::memcpy(&h, qh, 4);
    static const uint8_t kBit[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t bit = vld1q_u8(kBit);
    const uint8x16_t b01 = vcombine_u8(vdup_n_u8(uint8_t(h)), vdup_n_u8(uint8_t(h >> 8)));
    const uint8x16_t b23 = vcombine_u8(vdup_n_u8(uint8_t(h >> 16)), vdup_n_u8(uint8_t(h >> 24)));
    lo = vandq_u8(vtstq_u8(b01, bit), vdupq_n_u8(0x10));
    hi = vandq_u8(vtstq_u8(b23, bit), vdupq_n_u8(0x10));
}

inline int32x4_t dot32(int8x16_t lo, int8x16_t hi, const int8_t* x) {
    return vdotq_s32(vdotq_s32(vdupq_n_s32(0), lo, load16(x)), hi, load16(x + 16));
}

template <typename Block, typename Levels>
float dot_q8_0_blocks(int64_t n, const void* w, const void* x, Levels levels) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    const int64_t nb = n / 32;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        int8x16_t l0, h0, l1, h1;
        levels(a[i], l0, h0);
        levels(a[i + 1], l1, h1);
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(dot32(l0, h0, b[i].qs)), fp16(a[i].d) * fp16(b[i].d));
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(dot32(l1, h1, b[i + 1].qs)), fp16(a[i + 1].d) * fp16(b[i + 1].d));
    }
    for (; i < nb; ++i) {
        int8x16_t l0, h0;
        levels(a[i], l0, h0);
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(dot32(l0, h0, b[i].qs)), fp16(a[i].d) * fp16(b[i].d));
    }
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_0_blocks<BlockQ4_0>(n, w, x, [](const BlockQ4_0& b, int8x16_t& lo, int8x16_t& hi) {
        nibble_levels(b.qs, 8, lo, hi);
    });
}
void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_0_blocks<BlockQ5_0>(n, w, x, [](const BlockQ5_0& b, int8x16_t& lo, int8x16_t& hi) {
        nibble_levels(b.qs, 0, lo, hi);
        uint8x16_t bl, bh;
        fifth_bits(b.qh, bl, bh);
        lo = vsubq_s8(vorrq_s8(lo, vreinterpretq_s8_u8(bl)), vdupq_n_s8(16));
        hi = vsubq_s8(vorrq_s8(hi, vreinterpretq_s8_u8(bh)), vdupq_n_s8(16));
    });
}
void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_0_blocks<BlockQ8_0>(n, w, x, [](const BlockQ8_0& b, int8x16_t& lo, int8x16_t& hi) {
        lo = load16(b.qs);
        hi = load16(b.qs + 16);
    });
}

template <typename Block, typename Levels>
float dot_q8_1_blocks(int64_t n, const void* w, const void* x, Levels levels) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    float32x4_t acc = vdupq_n_f32(0);
    float offsets = 0;
    for (int64_t i = 0; i < n / 32; ++i) {
        int8x16_t lo, hi;
        levels(a[i], lo, hi);
        acc = vfmaq_n_f32(acc, vcvtq_f32_s32(dot32(lo, hi, b[i].qs)), fp16(a[i].d) * fp16(b[i].d));
        offsets += fp16(a[i].m) * fp16(b[i].s);
    }
    return vaddvq_f32(acc) + offsets;
}

void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_1_blocks<BlockQ4_1>(n, w, x, [](const BlockQ4_1& b, int8x16_t& lo, int8x16_t& hi) {
        nibble_levels(b.qs, 0, lo, hi);
    });
}
void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_1_blocks<BlockQ5_1>(n, w, x, [](const BlockQ5_1& b, int8x16_t& lo, int8x16_t& hi) {
        nibble_levels(b.qs, 0, lo, hi);
        uint8x16_t bl, bh;
        fifth_bits(b.qh, bl, bh);
        lo = vorrq_s8(lo, vreinterpretq_s8_u8(bl));
        hi = vorrq_s8(hi, vreinterpretq_s8_u8(bh));
    });
}

// ---- k-quants against Q8_K: per sub-block an sdot sum times the sub-block scale,
// accumulated in int32 lanes (exact), then the super-block float factors.

inline int32x4_t sdot16(int32x4_t acc, int8x16_t levels, const int8_t* x) { return vdotq_s32(acc, levels, load16(x)); }

template <bool Q5>
float dot_q45_k(int64_t n, const void* w, const void* x) {
    using Block = std::conditional_t<Q5, BlockQ5_K, BlockQ4_K>;
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; ++j) quant_detail::k4_scale_min(a[i].scales, j, sc[j], mn[j]);
        int32x4_t isum = vdupq_n_s32(0);
        for (int c = 0; c < 4; ++c) {
            for (int half = 0; half < 2; ++half) {  // 16 of the chunk's 32 bytes
                const uint8x16_t q = load16u(a[i].qs + 32 * c + 16 * half);
                uint8x16_t lo = vandq_u8(q, vdupq_n_u8(0x0f)), hi = vshrq_n_u8(q, 4);
                if constexpr (Q5) {
                    const uint8x16_t qh = load16u(a[i].qh + 16 * half);
                    lo = vorrq_u8(lo, vandq_u8(vtstq_u8(qh, vdupq_n_u8(uint8_t(1 << (2 * c)))), vdupq_n_u8(16)));
                    hi = vorrq_u8(hi, vandq_u8(vtstq_u8(qh, vdupq_n_u8(uint8_t(2 << (2 * c)))), vdupq_n_u8(16)));
                }
                const int8_t* xq = b[i].qs + 64 * c + 16 * half;
                isum = vmlaq_n_s32(isum, sdot16(vdupq_n_s32(0), vreinterpretq_s8_u8(lo), xq), sc[2 * c]);
                isum = vmlaq_n_s32(isum, sdot16(vdupq_n_s32(0), vreinterpretq_s8_u8(hi), xq + 32), sc[2 * c + 1]);
            }
        }
        int mins = 0;
        for (int j = 0; j < 8; ++j) mins += mn[j] * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        const float d = fp16(a[i].d) * b[i].d;
        const float dmin = fp16(a[i].dmin) * b[i].d;
        sum += d * float(vaddvq_s32(isum)) - dmin * float(mins);
    }
    return sum;
}

void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x) { *out = dot_q45_k<false>(n, w, x); }
void vec_dot_q5_k(int64_t n, float* out, const void* w, const void* x) { *out = dot_q45_k<true>(n, w, x); }

// Q6_K levels of elements 128h + 32k + [16 part, 16 part + 16), signed (q - 32).
inline int8x16_t q6_levels(const BlockQ6_K& b, int h, int k, int part) {
    const uint8x16_t ql = load16u(b.ql + 64 * h + 32 * (k % 2) + 16 * part);
    const uint8x16_t qh = load16u(b.qh + 32 * h + 16 * part);
    const uint8x16_t low = k / 2 ? vshrq_n_u8(ql, 4) : vandq_u8(ql, vdupq_n_u8(0x0f));
    const uint8x16_t high = vandq_u8(vshlq_u8(qh, vdupq_n_s8(int8_t(-2 * k))), vdupq_n_u8(3));
    return vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(low, vshlq_n_u8(high, 4))), vdupq_n_s8(32));
}

void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ6_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k)
                for (int part = 0; part < 2; ++part)
                    isum = vmlaq_n_s32(isum, sdot16(vdupq_n_s32(0), q6_levels(a[i], h, k, part), b[i].qs + 128 * h + 32 * k + 16 * part),
                                       a[i].scales[8 * h + 2 * k + part]);
        sum += fp16(a[i].d) * b[i].d * float(vaddvq_s32(isum));
    }
    *out = sum;
}

// Q2_K / Q3_K: element 128h + 32k + l in bits 2k of qs[32h + l].
inline uint8x16_t two_bits(const uint8_t* qs, int h, int k, int part) {
    return vandq_u8(vshlq_u8(load16u(qs + 32 * h + 16 * part), vdupq_n_s8(int8_t(-2 * k))), vdupq_n_u8(3));
}

void vec_dot_q2_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ2_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32x4_t isum = vdupq_n_s32(0);
        int mins = 0;
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k)
                for (int part = 0; part < 2; ++part) {
                    const int j = 8 * h + 2 * k + part;
                    isum = vmlaq_n_s32(isum, sdot16(vdupq_n_s32(0), vreinterpretq_s8_u8(two_bits(a[i].qs, h, k, part)), b[i].qs + 16 * j),
                                       a[i].scales[j] & 0x0f);
                    mins += (a[i].scales[j] >> 4) * b[i].bsums[j];
                }
        const float dall = b[i].d * fp16(a[i].d);
        const float dmin = b[i].d * fp16(a[i].dmin);
        sum += dall * float(vaddvq_s32(isum)) - dmin * float(mins);
    }
    *out = sum;
}

void vec_dot_q3_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ3_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k)
                for (int part = 0; part < 2; ++part) {
                    const int j = 8 * h + 2 * k + part;
                    // Level - 4 where hmask bit 4h + k is clear.
                    const uint8x16_t set = vtstq_u8(load16u(a[i].hmask + 16 * part), vdupq_n_u8(uint8_t(1 << (4 * h + k))));
                    const int8x16_t levels = vsubq_s8(vreinterpretq_s8_u8(two_bits(a[i].qs, h, k, part)),
                                                      vreinterpretq_s8_u8(vbicq_u8(vdupq_n_u8(4), set)));
                    isum = vmlaq_n_s32(isum, sdot16(vdupq_n_s32(0), levels, b[i].qs + 16 * j), quant_detail::q3k_scale(a[i].scales, j));
                }
        sum += fp16(a[i].d) * b[i].d * float(vaddvq_s32(isum));
    }
    *out = sum;
}

// ---- activation conversions (bit-identical to the scalar ones).

// nearest_int (quant/unpack.hpp) of 4 products, clamped to [-128, 127].
inline int32x4_t quantize4(float32x4_t x, float32x4_t scale) {
    const float32x4_t shifted = vaddq_f32(materialized(vmulq_f32(x, scale)), vdupq_n_f32(12582912.f));
    const int32x4_t r = vsubq_s32(vandq_s32(vreinterpretq_s32_f32(shifted), vdupq_n_s32(0x007fffff)), vdupq_n_s32(0x00400000));
    return vminq_s32(vmaxq_s32(r, vdupq_n_s32(-128)), vdupq_n_s32(127));
}

// 16 int32 in [-128, 127] to bytes.
inline int8x16_t narrow16(int32x4_t a, int32x4_t b, int32x4_t c, int32x4_t d) {
    const int16x8_t ab = vcombine_s16(vmovn_s32(a), vmovn_s32(b)), cd = vcombine_s16(vmovn_s32(c), vmovn_s32(d));
    return vcombine_s8(vmovn_s16(ab), vmovn_s16(cd));
}

// max(m, |v|) ignoring quiet NaN in v (FMAXNM), like the scalar fmax / strict-greater loops.
inline float32x4_t max_abs(float32x4_t m, float32x4_t v) { return vmaxnmq_f32(m, vabsq_f32(v)); }

inline float q8_block(const float* x, uint16_t& d_out, int8_t* qs, int& sum) {
    float32x4_t v[8], m = vdupq_n_f32(0);
    for (int k = 0; k < 8; ++k) m = max_abs(m, v[k] = vld1q_f32(x + 4 * k));
    const float amax = vmaxnmvq_f32(m);
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    d_out = f32_to_fp16(d);
    int32x4_t q[8];
    for (int k = 0; k < 8; ++k) q[k] = quantize4(v[k], vdupq_n_f32(id));
    vst1q_s8(qs, narrow16(q[0], q[1], q[2], q[3]));
    vst1q_s8(qs + 16, narrow16(q[4], q[5], q[6], q[7]));
    int32x4_t s = q[0];
    for (int k = 1; k < 8; ++k) s = vaddq_s32(s, q[k]);
    sum = vaddvq_s32(s);
    return d;
}

void from_float_q8_0(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_0*>(y);
    for (int64_t i = 0; i < n / 32; ++i) {
        int sum;
        q8_block(x + 32 * i, b[i].d, b[i].qs, sum);
    }
}

void from_float_q8_1(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_1*>(y);
    for (int64_t i = 0; i < n / 32; ++i) {
        int sum;
        const float d = q8_block(x + 32 * i, b[i].d, b[i].qs, sum);
        b[i].s = f32_to_fp16(d * float(sum));
    }
}

void from_float_q8_k(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_K*>(y);
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        float32x4_t m = vdupq_n_f32(0);
        for (int k = 0; k < 64; ++k) m = max_abs(m, vld1q_f32(x + 4 * k));
        const float amax = vmaxnmvq_f32(m);
        if (amax == 0) {
            std::memset(&b[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        float max = 0;  // the value of largest magnitude, first on ties
        for (int j = 0; j < kQK_K; ++j)
            if (std::fabs(x[j]) == amax) {
                max = x[j];
                break;
            }
        const float iscale = -127.f / max;
        for (int g = 0; g < 16; ++g) {
            int32x4_t q[4];
            for (int k = 0; k < 4; ++k) q[k] = quantize4(vld1q_f32(x + 16 * g + 4 * k), vdupq_n_f32(iscale));
            vst1q_s8(b[i].qs + 16 * g, narrow16(q[0], q[1], q[2], q[3]));
            b[i].bsums[g] = int16_t(vaddvq_s32(vaddq_s32(vaddq_s32(q[0], q[1]), vaddq_s32(q[2], q[3]))));
        }
        b[i].d = 1 / iscale;
    }
}

void from_float_f16(const float* x, void* y, int64_t n) {
    auto* h = static_cast<uint16_t*>(y);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        uint16x4_t r = vreinterpret_u16_f16(vcvt_f16_f32(v));
        // NaN: the scalar conversion gives sign | 0x7e00 whatever the payload.
        const uint32x4_t nan = vmvnq_u32(vceqq_f32(v, v));
        const uint16x4_t quiet =
            vorr_u16(vmovn_u32(vshrq_n_u32(vandq_u32(vreinterpretq_u32_f32(v), vdupq_n_u32(0x80000000u)), 16)), vdup_n_u16(0x7e00));
        r = vbsl_u16(vmovn_u32(nan), quiet, r);
        vst1_u16(h + i, r);
    }
    for (; i < n; ++i) h[i] = f32_to_fp16(x[i]);
}

void from_float_bf16(const float* x, void* y, int64_t n) {
    auto* h = static_cast<uint16_t*>(y);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i));
        const uint32x4_t rounded =
            vshrq_n_u32(vaddq_u32(u, vaddq_u32(vdupq_n_u32(0x7fff), vandq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(1)))), 16);
        const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffff)), vdupq_n_u32(0x7f800000));
        const uint32x4_t quiet = vorrq_u32(vshrq_n_u32(u, 16), vdupq_n_u32(0x40));
        vst1_u16(h + i, vmovn_u32(vbslq_u32(nan, quiet, rounded)));
    }
    for (; i < n; ++i) h[i] = f32_to_bf16(x[i]);
}

KernelTable make_table() {
    KernelTable t;
    t.isa = "dotprod";
    auto set_dot = [&](DType w, VecDotFn f) { t.vec_dot[int(w)] = f; };
    auto set_from = [&](DType a, FromFloatFn f) { t.from_float[int(a)] = f; };
    set_dot(DType::F32, vec_dot_f32);
    set_dot(DType::F16, vec_dot_f16);
    set_dot(DType::BF16, vec_dot_bf16);
    set_dot(DType::Q4_0, vec_dot_q4_0);
    set_dot(DType::Q4_1, vec_dot_q4_1);
    set_dot(DType::Q5_0, vec_dot_q5_0);
    set_dot(DType::Q5_1, vec_dot_q5_1);
    set_dot(DType::Q8_0, vec_dot_q8_0);
    set_dot(DType::Q2_K, vec_dot_q2_k);
    set_dot(DType::Q3_K, vec_dot_q3_k);
    set_dot(DType::Q4_K, vec_dot_q4_k);
    set_dot(DType::Q5_K, vec_dot_q5_k);
    set_dot(DType::Q6_K, vec_dot_q6_k);
    set_from(DType::F16, from_float_f16);
    set_from(DType::BF16, from_float_bf16);
    set_from(DType::Q8_0, from_float_q8_0);
    set_from(DType::Q8_1, from_float_q8_1);
    set_from(DType::Q8_K, from_float_q8_k);
    arm::set_layer_kernels(t);
    arm::set_dotprod_gemm(t);
    return t;
}

}  // namespace
}  // namespace dotprod

const KernelTable& dotprod_table() {
    static const KernelTable table = dotprod::make_table();
    return table;
}

}  // namespace dsm::kernels
