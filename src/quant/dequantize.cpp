// Scalar dequantizers for the GGUF tensor types. The float arithmetic (which
// products are formed, in which order) follows ggml's reference dequantizers, so
// the values are bit-identical to what llama.cpp reads from the same blocks.
#include <cstring>
#include <string>

#include "core/error.hpp"
#include "core/fp16.hpp"
#include "quant/blocks.hpp"
#include "quant/quant.hpp"
#include "quant/unpack.hpp"

namespace dsm {
namespace {

using quant_detail::k4_scale_min;
using quant_detail::q3k_scale;

// The 5th bit of element j (0..31) of a Q5_0 / Q5_1 block.
inline int q5_high_bit(const uint8_t qh[4], int j) {
    uint32_t bits;
    std::memcpy(&bits, qh, 4);
    return int((bits >> j) & 1u);
}

void dequant_q4_0(const BlockQ4_0* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK4_0) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < kQK4_0 / 2; ++j) {
            y[j] = float((b[i].qs[j] & 0x0f) - 8) * d;
            y[j + kQK4_0 / 2] = float((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void dequant_q4_1(const BlockQ4_1* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK4_1) {
        const float d = fp16_to_f32(b[i].d);
        const float m = fp16_to_f32(b[i].m);
        for (int j = 0; j < kQK4_1 / 2; ++j) {
            y[j] = float(b[i].qs[j] & 0x0f) * d + m;
            y[j + kQK4_1 / 2] = float(b[i].qs[j] >> 4) * d + m;
        }
    }
}

void dequant_q5_0(const BlockQ5_0* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK5_0) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < kQK5_0 / 2; ++j) {
            const int lo = (b[i].qs[j] & 0x0f) | (q5_high_bit(b[i].qh, j) << 4);
            const int hi = (b[i].qs[j] >> 4) | (q5_high_bit(b[i].qh, j + 16) << 4);
            y[j] = float(lo - 16) * d;
            y[j + kQK5_0 / 2] = float(hi - 16) * d;
        }
    }
}

void dequant_q5_1(const BlockQ5_1* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK5_1) {
        const float d = fp16_to_f32(b[i].d);
        const float m = fp16_to_f32(b[i].m);
        for (int j = 0; j < kQK5_1 / 2; ++j) {
            const int lo = (b[i].qs[j] & 0x0f) | (q5_high_bit(b[i].qh, j) << 4);
            const int hi = (b[i].qs[j] >> 4) | (q5_high_bit(b[i].qh, j + 16) << 4);
            y[j] = float(lo) * d + m;
            y[j + kQK5_1 / 2] = float(hi) * d + m;
        }
    }
}

void dequant_q8_0(const BlockQ8_0* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK8_0) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < kQK8_0; ++j) y[j] = float(b[i].qs[j]) * d;
    }
}

void dequant_q8_1(const BlockQ8_1* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i, y += kQK8_1) {
        const float d = fp16_to_f32(b[i].d);
        for (int j = 0; j < kQK8_1; ++j) y[j] = float(b[i].qs[j]) * d;
    }
}

// Q2_K: 16 sub-blocks of 16; each 128-element half uses 32 bytes of qs, element
// 32*k + l of the half sits in bits 2k..2k+1 of byte l.
void dequant_q2_k(const BlockQ2_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(b[i].d);
        const float dmin = fp16_to_f32(b[i].dmin);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* q = b[i].qs + 32 * half;
            for (int k = 0; k < 4; ++k) {
                const int shift = 2 * k;
                for (int part = 0; part < 2; ++part) {
                    const uint8_t sc = b[i].scales[8 * half + 2 * k + part];
                    const float dl = d * float(sc & 0x0f);
                    const float ml = dmin * float(sc >> 4);
                    for (int l = 16 * part; l < 16 * part + 16; ++l)
                        *y++ = dl * float((q[l] >> shift) & 3) - ml;
                }
            }
        }
    }
}

// Q3_K: like Q2_K for the low 2 bits; hmask bit (e / 32) of byte (e % 32) is set
// when the value is NOT reduced by 4.
void dequant_q3_k(const BlockQ3_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* q = b[i].qs + 32 * half;
            for (int k = 0; k < 4; ++k) {
                const int shift = 2 * k;
                const uint8_t mask = uint8_t(1u << (4 * half + k));
                for (int part = 0; part < 2; ++part) {
                    const float dl = d * float(q3k_scale(b[i].scales, 8 * half + 2 * k + part));
                    for (int l = 16 * part; l < 16 * part + 16; ++l) {
                        const int v = ((q[l] >> shift) & 3) - ((b[i].hmask[l] & mask) ? 0 : 4);
                        *y++ = dl * float(v);
                    }
                }
            }
        }
    }
}

// Q4_K: 8 sub-blocks of 32; each 64-element chunk uses 32 bytes, low nibbles for
// its first 32 elements and high nibbles for the next 32.
void dequant_q4_k(const BlockQ4_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(b[i].d);
        const float dmin = fp16_to_f32(b[i].dmin);
        for (int chunk = 0; chunk < 4; ++chunk) {
            const uint8_t* q = b[i].qs + 32 * chunk;
            uint8_t sc, m;
            k4_scale_min(b[i].scales, 2 * chunk, sc, m);
            const float d1 = d * float(sc), m1 = dmin * float(m);
            k4_scale_min(b[i].scales, 2 * chunk + 1, sc, m);
            const float d2 = d * float(sc), m2 = dmin * float(m);
            for (int l = 0; l < 32; ++l) *y++ = d1 * float(q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; ++l) *y++ = d2 * float(q[l] >> 4) - m2;
        }
    }
}

// Q5_K: Q4_K plus a 5th bit: bit 2*chunk (first 32) or 2*chunk+1 (next 32) of qh[l].
void dequant_q5_k(const BlockQ5_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(b[i].d);
        const float dmin = fp16_to_f32(b[i].dmin);
        for (int chunk = 0; chunk < 4; ++chunk) {
            const uint8_t* q = b[i].qs + 32 * chunk;
            const uint8_t bit1 = uint8_t(1u << (2 * chunk)), bit2 = uint8_t(bit1 << 1);
            uint8_t sc, m;
            k4_scale_min(b[i].scales, 2 * chunk, sc, m);
            const float d1 = d * float(sc), m1 = dmin * float(m);
            k4_scale_min(b[i].scales, 2 * chunk + 1, sc, m);
            const float d2 = d * float(sc), m2 = dmin * float(m);
            for (int l = 0; l < 32; ++l)
                *y++ = d1 * float((q[l] & 0x0f) + ((b[i].qh[l] & bit1) ? 16 : 0)) - m1;
            for (int l = 0; l < 32; ++l)
                *y++ = d2 * float((q[l] >> 4) + ((b[i].qh[l] & bit2) ? 16 : 0)) - m2;
        }
    }
}

// Q6_K: per 128-element half, 64 bytes of low nibbles and 32 bytes of 2-bit highs.
// Element 32*k + l (k = 0..3) takes ql[l + 32*(k%2)] nibble k/2 and qh[l] bits 2k.
void dequant_q6_k(const BlockQ6_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i) {
        const float d = fp16_to_f32(b[i].d);
        for (int half = 0; half < 2; ++half) {
            const uint8_t* ql = b[i].ql + 64 * half;
            const uint8_t* qh = b[i].qh + 32 * half;
            const int8_t* sc = b[i].scales + 8 * half;
            for (int k = 0; k < 4; ++k) {
                for (int l = 0; l < 32; ++l) {
                    const int low = (ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0x0f;
                    const int high = (qh[l] >> (2 * k)) & 3;
                    const int q = (low | (high << 4)) - 32;
                    y[32 * k + l] = d * float(sc[2 * k + l / 16]) * float(q);
                }
            }
            y += 128;
        }
    }
}

void dequant_q8_k(const BlockQ8_K* b, float* y, int64_t nb) {
    for (int64_t i = 0; i < nb; ++i)
        for (int j = 0; j < kQK_K; ++j) *y++ = b[i].d * float(b[i].qs[j]);
}

}  // namespace

bool can_dequantize(DType t) {
    switch (t) {
    case DType::F32: case DType::F16: case DType::BF16:
    case DType::Q4_0: case DType::Q4_1: case DType::Q5_0: case DType::Q5_1:
    case DType::Q8_0: case DType::Q8_1:
    case DType::Q2_K: case DType::Q3_K: case DType::Q4_K: case DType::Q5_K:
    case DType::Q6_K: case DType::Q8_K:
        return true;
    default:
        return false;
    }
}

void dequantize_row(DType t, const void* src, float* dst, int64_t n) {
    if (!can_dequantize(t))
        throw Error("dequantize_row: type " + std::string(dtype_name(t)) + " cannot be dequantized");
    const int64_t bs = info(t).block_size;
    if (n < 0 || n % bs != 0)
        throw Error("dequantize_row: " + std::to_string(n) + " elements is not a multiple of the " +
                    std::string(dtype_name(t)) + " block size " + std::to_string(bs));
    const int64_t nb = n / bs;
    switch (t) {
    case DType::F32:
        if (n) std::memcpy(dst, src, size_t(n) * sizeof(float));
        return;
    case DType::F16: {
        const auto* h = static_cast<const uint16_t*>(src);
        for (int64_t i = 0; i < n; ++i) dst[i] = fp16_to_f32(h[i]);
        return;
    }
    case DType::BF16: {
        const auto* h = static_cast<const uint16_t*>(src);
        for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_f32(h[i]);
        return;
    }
    case DType::Q4_0: return dequant_q4_0(static_cast<const BlockQ4_0*>(src), dst, nb);
    case DType::Q4_1: return dequant_q4_1(static_cast<const BlockQ4_1*>(src), dst, nb);
    case DType::Q5_0: return dequant_q5_0(static_cast<const BlockQ5_0*>(src), dst, nb);
    case DType::Q5_1: return dequant_q5_1(static_cast<const BlockQ5_1*>(src), dst, nb);
    case DType::Q8_0: return dequant_q8_0(static_cast<const BlockQ8_0*>(src), dst, nb);
    case DType::Q8_1: return dequant_q8_1(static_cast<const BlockQ8_1*>(src), dst, nb);
    case DType::Q2_K: return dequant_q2_k(static_cast<const BlockQ2_K*>(src), dst, nb);
    case DType::Q3_K: return dequant_q3_k(static_cast<const BlockQ3_K*>(src), dst, nb);
    case DType::Q4_K: return dequant_q4_k(static_cast<const BlockQ4_K*>(src), dst, nb);
    case DType::Q5_K: return dequant_q5_k(static_cast<const BlockQ5_K*>(src), dst, nb);
    case DType::Q6_K: return dequant_q6_k(static_cast<const BlockQ6_K*>(src), dst, nb);
    case DType::Q8_K: return dequant_q8_k(static_cast<const BlockQ8_K*>(src), dst, nb);
    default: return;  // unreachable: rejected by can_dequantize above
    }
}

}  // namespace dsm
