// Internal, for the ARM gemm files (gemm_dotprod.cpp, gemm_i8mm.cpp): the signed
// levels and integer scales of a weight block in element order (what both tile
// layouts are built from), the prepared Q8_0 token layout, and the tile driver.
// Everything is in an anonymous namespace: each including file gets its own copy
// compiled for its instruction set.
#pragma once
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/fp16.hpp"
#include "kernels/kernels.hpp"
#include "quant/blocks.hpp"
#include "quant/unpack.hpp"

namespace dsm::kernels::arm {
namespace {

constexpr int kTileRows = 4;

// Q8_0 token blocks with the scale as float (converted once per token).
struct PreparedQ8_0 {
    float d;
    int8_t qs[32];
};
static_assert(sizeof(PreparedQ8_0) == 36);

void prepare_q8_0(int64_t n, const void* x, void* prepared) {
    const auto* b = static_cast<const BlockQ8_0*>(x);
    auto* p = static_cast<PreparedQ8_0*>(prepared);
    for (int64_t i = 0; i < n / 32; ++i) {
        p[i].d = fp16_to_f32(b[i].d);
        std::memcpy(p[i].qs, b[i].qs, 32);
    }
}

// ---- levels of one block (signed, element order)

inline void block_levels(const BlockQ4_0& b, int8_t* l) {
    for (int j = 0; j < 16; ++j) {
        l[j] = int8_t((b.qs[j] & 0x0f) - 8);
        l[j + 16] = int8_t((b.qs[j] >> 4) - 8);
    }
}
inline void block_levels(const BlockQ8_0& b, int8_t* l) { std::memcpy(l, b.qs, 32); }

// Q4_K: levels 0..15, 8 scales and mins of 32-element sub-blocks.
inline void block_levels(const BlockQ4_K& b, int8_t* l, int32_t* sc, int32_t* mn) {
    for (int c = 0; c < 4; ++c)
        for (int i = 0; i < 32; ++i) {
            l[64 * c + i] = int8_t(b.qs[32 * c + i] & 0x0f);
            l[64 * c + 32 + i] = int8_t(b.qs[32 * c + i] >> 4);
        }
    for (int j = 0; j < 8; ++j) {
        uint8_t s, m;
        quant_detail::k4_scale_min(b.scales, j, s, m);
        sc[j] = s;
        mn[j] = m;
    }
}

// Q6_K: levels q - 32 and 16 scales of 16-element sub-blocks.
inline void block_levels(const BlockQ6_K& b, int8_t* l, int32_t* sc) {
    for (int h = 0; h < 2; ++h)
        for (int k = 0; k < 4; ++k)
            for (int i = 0; i < 32; ++i) {
                const int low = (b.ql[64 * h + 32 * (k % 2) + i] >> (4 * (k / 2))) & 0x0f;
                const int high = (b.qh[32 * h + i] >> (2 * k)) & 3;
                l[128 * h + 32 * k + i] = int8_t((low | high << 4) - 32);
            }
    for (int j = 0; j < 16; ++j) sc[j] = b.scales[j];
}

// ---- driver

// A 64-byte aligned per-thread buffer for a repacked tile.
uint8_t* tile_buffer(size_t bytes) {
    struct alignas(64) Line {
        uint8_t b[64];
    };
    thread_local std::vector<Line> buf;
    if (buf.size() * 64 < bytes) buf.resize((bytes + 63) / 64);
    return buf.data()->b;
}

// The tile's rows (past the matrix: a row of zero bytes, which repacks to scale 0).
struct TileRows {
    const uint8_t* row[kTileRows];
};

inline TileRows tile_rows(const uint8_t* w, size_t w_stride, int64_t r0, int64_t n_rows) {
    thread_local std::vector<uint8_t> zero_row;
    TileRows t;
    for (int r = 0; r < kTileRows; ++r) {
        if (r0 + r < n_rows) {
            t.row[r] = w + size_t(r0 + r) * w_stride;
        } else {
            zero_row.resize(w_stride);
            t.row[r] = zero_row.data();
        }
    }
    return t;
}

// ---- tile repacking. Both tile layouts hold, per block, the levels of the 4 rows (32
// bytes per row and 32 levels), then integer scales (and mins) [sub-block][row] and
// float d (and dmin) [row]; they differ only in where one row's levels go:
// Put(dst, r, levels, n) places n levels of row r in the 4-row region at dst.
using PutLevels = void (*)(uint8_t* dst, int r, const int8_t* levels, int n);

// Q4_0 / Q8_0: levels [128], float d[4].
constexpr size_t kLegacyBytes = 128 + 16;

template <typename Block, PutLevels Put>
void repack_legacy(const TileRows& rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kLegacyBytes) {
        for (int r = 0; r < kTileRows; ++r) {
            const Block& blk = reinterpret_cast<const Block*>(rows.row[r])[b];
            int8_t l[32];
            block_levels(blk, l);
            Put(tile, r, l, 32);
            reinterpret_cast<float*>(tile + 128)[r] = fp16_to_f32(blk.d);
        }
    }
}

// Q4_K: levels [8 sub-blocks][128], int32 scales [8][4], mins [8][4], float d[4], dmin[4].
constexpr size_t kK4Scales = 1024, kK4Mins = kK4Scales + 128, kK4D = kK4Mins + 128, kK4DMin = kK4D + 16,
                 kK4Bytes = kK4DMin + 16;

template <PutLevels Put>
void repack_q4_k(const TileRows& rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kK4Bytes) {
        for (int r = 0; r < kTileRows; ++r) {
            const BlockQ4_K& blk = reinterpret_cast<const BlockQ4_K*>(rows.row[r])[b];
            int8_t l[kQK_K];
            int32_t sc[8], mn[8];
            block_levels(blk, l, sc, mn);
            for (int j = 0; j < 8; ++j) {
                Put(tile + 128 * j, r, l + 32 * j, 32);
                reinterpret_cast<int32_t*>(tile + kK4Scales)[4 * j + r] = sc[j];
                reinterpret_cast<int32_t*>(tile + kK4Mins)[4 * j + r] = mn[j];
            }
            reinterpret_cast<float*>(tile + kK4D)[r] = fp16_to_f32(blk.d);
            reinterpret_cast<float*>(tile + kK4DMin)[r] = fp16_to_f32(blk.dmin);
        }
    }
}

// Q6_K: levels [16 sub-blocks][64] (q - 32), int32 scales [16][4], float d[4].
constexpr size_t kK6Scales = 1024, kK6D = kK6Scales + 256, kK6Bytes = kK6D + 16;

template <PutLevels Put>
void repack_q6_k(const TileRows& rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kK6Bytes) {
        for (int r = 0; r < kTileRows; ++r) {
            const BlockQ6_K& blk = reinterpret_cast<const BlockQ6_K*>(rows.row[r])[b];
            int8_t l[kQK_K];
            int32_t sc[16];
            block_levels(blk, l, sc);
            for (int j = 0; j < 16; ++j) {
                Put(tile + 64 * j, r, l + 16 * j, 16);
                reinterpret_cast<int32_t*>(tile + kK6Scales)[4 * j + r] = sc[j];
            }
            reinterpret_cast<float*>(tile + kK6D)[r] = fp16_to_f32(blk.d);
        }
    }
}

// Rows in tiles of kTileRows (repacked once per call), tokens in groups of up to
// MaxT per kernel call. Kernel(tile, nb, x, x_stride, tokens, out, out_stride, rows).
template <typename Repack, typename Kernel>
void run_tiles(int64_t n, int64_t block_elems, size_t tile_block_bytes, int max_tokens, int64_t n_rows,
               int64_t n_tokens, const void* w, size_t w_stride, const void* x, size_t x_stride, float* out,
               int64_t out_stride, Repack repack, Kernel kernel) {
    const int64_t nb = n / block_elems;
    uint8_t* tile = tile_buffer(size_t(nb) * tile_block_bytes);
    for (int64_t r0 = 0; r0 < n_rows; r0 += kTileRows) {
        repack(tile_rows(static_cast<const uint8_t*>(w), w_stride, r0, n_rows), nb, tile);
        const int rows = int(std::min<int64_t>(kTileRows, n_rows - r0));
        for (int64_t t0 = 0; t0 < n_tokens; t0 += max_tokens) {
            const int tokens = int(std::min<int64_t>(max_tokens, n_tokens - t0));
            kernel(tile, nb, static_cast<const uint8_t*>(x) + size_t(t0) * x_stride, x_stride, tokens,
                   out + t0 * out_stride + r0, out_stride, rows);
        }
    }
}

}  // namespace
}  // namespace dsm::kernels::arm
