// Small helpers shared by the dequantizers, the quantizers and the dot-product
// kernels: unpacking the packed sub-block scales of the k-quants, and the
// round-to-nearest-even float -> int conversion that ggml uses everywhere.
#pragma once
#include <cstdint>
#include <cstring>

namespace dsm::quant_detail {

// Round to nearest, ties to even, without undefined behaviour for any input.
// Adding 1.5 * 2^23 puts the rounded integer into the low mantissa bits (the
// float addition itself rounds to nearest-even). Exact for |v| < 2^22; larger,
// infinite or NaN inputs give some int (callers clamp the result).
inline int nearest_int(float v) {
    const float shifted = v + 12582912.f;
    int32_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    return (bits & 0x007fffff) - 0x00400000;
}

// Q4_K / Q5_K: 8 sub-blocks, each with a 6-bit scale and a 6-bit min, packed in
// 12 bytes. Sub-blocks 0..3 use the low 6 bits of bytes 0..3 (scale) and 4..7
// (min); sub-blocks 4..7 keep their low 4 bits in the nibbles of bytes 8..11 and
// their high 2 bits in the top bits of bytes 0..3 (scale) and 4..7 (min).
inline void k4_scale_min(const uint8_t* packed, int j, uint8_t& scale, uint8_t& min) {
    if (j < 4) {
        scale = packed[j] & 63;
        min = packed[j + 4] & 63;
    } else {
        scale = uint8_t((packed[j + 4] & 0x0f) | ((packed[j - 4] >> 6) << 4));
        min = uint8_t((packed[j + 4] >> 4) | ((packed[j] >> 6) << 4));
    }
}

// Inverse of k4_scale_min for all 8 sub-blocks (values must be < 64).
inline void k4_pack_scales(const uint8_t scales[8], const uint8_t mins[8], uint8_t packed[12]) {
    for (int j = 0; j < 4; ++j) {
        packed[j] = uint8_t((scales[j] & 63) | ((scales[j + 4] >> 4) << 6));
        packed[j + 4] = uint8_t((mins[j] & 63) | ((mins[j + 4] >> 4) << 6));
        packed[j + 8] = uint8_t((scales[j + 4] & 0x0f) | ((mins[j + 4] & 0x0f) << 4));
    }
}

// Q3_K: 16 signed 6-bit scales (stored +32) in 12 bytes: low nibbles in bytes
// 0..7 (sub-blocks 0..7 in the low nibble, 8..15 in the high nibble), the high
// 2 bits in bytes 8..11 (sub-block j at bits 2*(j/4) of byte 8 + j%4).
inline int q3k_scale(const uint8_t* packed, int j) {
    const int low = j < 8 ? (packed[j] & 0x0f) : (packed[j - 8] >> 4);
    const int high = (packed[8 + j % 4] >> (2 * (j / 4))) & 3;
    return (low | (high << 4)) - 32;
}

// Inverse of q3k_scale: biased (0..63) scales of the 16 sub-blocks.
inline void q3k_pack_scales(const uint8_t biased[16], uint8_t packed[12]) {
    std::memset(packed, 0, 12);
    for (int j = 0; j < 16; ++j) {
        const uint8_t l = biased[j] & 63;
        if (j < 8)
            packed[j] = uint8_t(packed[j] | (l & 0x0f));
        else
            packed[j - 8] = uint8_t(packed[j - 8] | ((l & 0x0f) << 4));
        packed[8 + j % 4] = uint8_t(packed[8 + j % 4] | ((l >> 4) << (2 * (j / 4))));
    }
}

}  // namespace dsm::quant_detail
