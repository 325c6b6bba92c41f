// Internal: scalar pieces shared by the x86 tables' files, each of which is compiled
// with its own instruction set and so gets its own copy (unnamed namespace):
//   PreparedQ8_0 / prepare_q8_0: Q8_0 activations as the Q4_0 / Q5_0 / Q8_0 tile
//   kernels read them (AVX2, AVX-VNNI and AVX-512);
//   pack_legacy_rows: Q4_0 / Q8_0 rows packed into groups of Rows rows (AVX2 and
//   AVX-VNNI: 8, groups_avx2.hpp; AVX-512: 16, gemm_packed_avx512.cpp). Per block: the
//   Rows fp16 scales, then Words words of 4 x Rows bytes whose lane r holds bytes 4k ..
//   4k + 3 of row r's levels (Q4_0: 4 words of nibbles, low = elements 4k + i, high =
//   16 + 4k + i; Q8_0: 8 words, levels stored + 128, unsigned for vpdpbusd and
//   vpmaddubsw); Rows x the file's block bytes;
//   pack_q4_k_rows: Q4_K rows packed into groups of Rows rows whose words hold 4 bytes
//   of every row (lane r = row r): the AVX2 (8 rows, gemm_avx2.cpp) and AVX-512 (16
//   rows, gemm_packed_avx512.cpp) layouts. Per super-block: fp16 d [Rows], fp16 dmin
//   [Rows], the three words of packed 6-bit scales and mins, then 32 level words, word
//   8c + g = bytes 4g .. 4g + 3 of each row's 32-byte chunk c (low nibbles: sub-block
//   2c, high: 2c + 1); Rows x 144 bytes, as compact as the file;
//   pack_q6_k_rows: Q6_K rows in the same kind of groups (AVX2: 8 rows). Per
//   super-block: fp16 d [Rows], 4 words of the int8 scales (word k = scales 4k .. 4k +
//   3), 32 words of ql, 16 words of qh (word k = bytes 4k .. 4k + 3 of each row's
//   array); Rows x 210 bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "core/fp16.hpp"
#include "quant/blocks.hpp"

namespace dsm::kernels::x86 {
namespace {

// A prepared activation block: the Q8_0 values, d as float and the integer start
// value -bias * sum(qs) for the weight type's bias (the levels' offset from zero).
struct PreparedQ8_0 {
    float d;
    int32_t start;
    int8_t qs[32];
};
static_assert(sizeof(PreparedQ8_0) == 40);

template <int Bias>
void prepare_q8_0(int64_t n, const void* x, void* prepared) {
    const auto* b = static_cast<const BlockQ8_0*>(x);
    auto* p = static_cast<PreparedQ8_0*>(prepared);
    for (int64_t i = 0; i < n / 32; ++i) {
        int sum = 0;
        for (int j = 0; j < 32; ++j) sum += b[i].qs[j];
        p[i].d = fp16_to_f32(b[i].d);
        p[i].start = -Bias * sum;
        std::memcpy(p[i].qs, b[i].qs, 32);
    }
}

template <int Rows, int Words>
struct PackedLegacyLayout {
    static constexpr size_t kWord = 4 * Rows, kLevels = 2 * Rows, kBytes = kLevels + Words * kWord;
};

template <int Rows, typename Block, int Words>
void pack_legacy_rows(int64_t cols, int64_t rows, const void* w, size_t w_stride, void* packed) {
    using L = PackedLegacyLayout<Rows, Words>;
    static_assert(L::kBytes == Rows * sizeof(Block));
    constexpr size_t kFileLevels = offsetof(Block, qs);
    constexpr uint32_t kFlip = Words == 8 ? 0x80808080u : 0;
    const int64_t nb = cols / 32, groups = (rows + Rows - 1) / Rows;
    auto* out = static_cast<uint8_t*>(packed);
    for (int64_t g = 0; g < groups; ++g, out += size_t(nb) * L::kBytes)
        for (int r = 0; r < Rows; ++r) {
            // One row at a time: the file is read in order, the group written in strides.
            // Rows past the end are zero (levels flipped like the others).
            const int64_t row = g * Rows + r;
            const auto* blk = row < rows ? static_cast<const uint8_t*>(w) + size_t(row) * w_stride : nullptr;
            uint8_t* o = out;
            for (int64_t b = 0; b < nb; ++b, o += L::kBytes) {
                uint16_t d = 0;  // d is the block's first field
                if (blk) std::memcpy(&d, blk + size_t(b) * sizeof(Block), 2);
                std::memcpy(o + 2 * r, &d, 2);
                for (int k = 0; k < Words; ++k) {
                    uint32_t v = 0;
                    if (blk) std::memcpy(&v, blk + size_t(b) * sizeof(Block) + kFileLevels + 4 * k, 4);
                    v ^= kFlip;
                    std::memcpy(o + L::kLevels + L::kWord * k + 4 * r, &v, 4);
                }
            }
        }
}

template <int Rows>
struct PackedQ4KLayout {
    static constexpr size_t kWord = 4 * Rows, kDMin = 2 * Rows, kScales = 4 * Rows, kLevels = kScales + 3 * kWord,
                            kBytes = kLevels + 32 * kWord;
    static_assert(kBytes == Rows * sizeof(BlockQ4_K));
};

// Groups of Rows rows of k-quant super-blocks: place(block, out, r) puts row r's block
// (zero past the last row) into the group's super-block that starts at out.
template <int Rows, typename Block, typename Place>
void pack_super_blocks(int64_t cols, int64_t rows, const void* w, size_t w_stride, void* packed, Place place) {
    const int64_t nb = cols / kQK_K, groups = (rows + Rows - 1) / Rows;
    auto* out = static_cast<uint8_t*>(packed);
    for (int64_t g = 0; g < groups; ++g)
        for (int64_t b = 0; b < nb; ++b, out += Rows * sizeof(Block))
            for (int r = 0; r < Rows; ++r) {
                const int64_t row = g * Rows + r;
                Block blk{};
                if (row < rows)
                    std::memcpy(&blk, static_cast<const uint8_t*>(w) + size_t(row) * w_stride + size_t(b) * sizeof(Block),
                                sizeof blk);
                place(blk, out, r);
            }
}

template <int Rows>
void pack_q4_k_rows(int64_t cols, int64_t rows, const void* w, size_t w_stride, void* packed) {
    using L = PackedQ4KLayout<Rows>;
    pack_super_blocks<Rows, BlockQ4_K>(cols, rows, w, w_stride, packed, [](const BlockQ4_K& blk, uint8_t* out, int r) {
        std::memcpy(out + 2 * r, &blk.d, 2);
        std::memcpy(out + L::kDMin + 2 * r, &blk.dmin, 2);
        for (int k = 0; k < 3; ++k) std::memcpy(out + L::kScales + L::kWord * k + 4 * r, blk.scales + 4 * k, 4);
        for (int k = 0; k < 32; ++k) std::memcpy(out + L::kLevels + L::kWord * k + 4 * r, blk.qs + 4 * k, 4);
    });
}

template <int Rows>
struct PackedQ6KLayout {
    static constexpr size_t kWord = 4 * Rows, kScales = 2 * Rows, kQl = kScales + 4 * kWord, kQh = kQl + 32 * kWord,
                            kBytes = kQh + 16 * kWord;
    static_assert(kBytes == Rows * sizeof(BlockQ6_K));
};

template <int Rows>
void pack_q6_k_rows(int64_t cols, int64_t rows, const void* w, size_t w_stride, void* packed) {
    using L = PackedQ6KLayout<Rows>;
    pack_super_blocks<Rows, BlockQ6_K>(cols, rows, w, w_stride, packed, [](const BlockQ6_K& blk, uint8_t* out, int r) {
        std::memcpy(out + 2 * r, &blk.d, 2);
        for (int k = 0; k < 4; ++k) std::memcpy(out + L::kScales + L::kWord * k + 4 * r, blk.scales + 4 * k, 4);
        for (int k = 0; k < 32; ++k) std::memcpy(out + L::kQl + L::kWord * k + 4 * r, blk.ql + 4 * k, 4);
        for (int k = 0; k < 16; ++k) std::memcpy(out + L::kQh + L::kWord * k + 4 * r, blk.qh + 4 * k, 4);
    });
}

}  // namespace
}  // namespace dsm::kernels::x86
