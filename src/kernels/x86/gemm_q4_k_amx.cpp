// Packed Q4_K (gemm_packed_avx512.cpp) times prompts on AMX tiles, a whole super-block
// of 256 values per pair of result tiles.
//
// A Q4_K row's super-block is d * sum_j scale_j * dot(levels_j, x_j) - dmin * (mins),
// with 6-bit integer scales per 32 values. Splitting each scale into 3-bit halves,
// scale = 8 hi + lo, keeps level * half <= 15 * 7 in a byte, so the scales go into the
// weights: B_lo = level * lo and B_hi = level * hi, and one pair of int32 tiles sums the
// whole super-block (four 64-deep tile multiplies into each) before anything is
// scaled: the vector unit then works once per super-block and token instead of once per
// 32 values, which is what limits tiles that are drained per block (gemm_packed_amx.cpp).
//
// Per group of 16 rows and super-block (expand): B_lo and B_hi as four tiles each
// (tile row k of 64-value chunk q: values 64 q + 4 k .. + 3 of every row), d and dmin
// as floats and the (min, min) pairs that multiply the activations' 32-value sums. Per
// tile of 16 tokens and super-block (gather): the four activation tiles, the 16 scales
// and the 16 tokens' pair sums.
#include <algorithm>
#include <cstring>

#include "kernels/x86/amx.hpp"
#include "kernels/x86/gemm_tiles_avx512.hpp"

namespace dsm::kernels::amx {
namespace {

using avx512::kPackedK4Bytes;
using avx512::kPackedK4Levels;
using avx512::kPackedK4Scales;

constexpr int kTileTokens = 16;
constexpr size_t kTile = 16 * 64;

// Expanded super-block of one group.
constexpr size_t kExpLo = 0, kExpHi = 4 * kTile, kExpD = 8 * kTile, kExpDMin = kExpD + 64, kExpPairs = kExpDMin + 64,
                 kExpBytes = kExpPairs + 4 * 64;
// Gathered super-block of one 16-token tile.
constexpr size_t kGatherD = 4 * kTile, kGatherSums = kGatherD + 64, kGatherBytes = kGatherSums + kTileTokens * 16;

// Bytes ahead of the packed super-block being expanded that are requested from memory.
constexpr size_t kExpandPrefetch = 2048;

void expand(const uint8_t* group, int64_t nb, uint8_t* out) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), byte = _mm512_set1_epi32(0xff), low3 = _mm512_set1_epi32(7);
    for (int64_t b = 0; b < nb; ++b, group += kPackedK4Bytes, out += kExpBytes) {
        __m512i words[4];
        avx512::k4_scale_words(_mm512_loadu_si512(group + kPackedK4Scales), _mm512_loadu_si512(group + kPackedK4Scales + 64),
                               _mm512_loadu_si512(group + kPackedK4Scales + 128), words);
        // The halves of sub-block j's scale in both 16-bit halves of every lane, so that
        // one 16-bit multiply scales a lane's four levels (no product reaches 256).
        auto halves = [&](int j, __m512i& lo, __m512i& hi) {
            const __m512i s = _mm512_and_si512(_mm512_srli_epi32(words[j / 4], 8 * (j % 4)), byte);
            lo = _mm512_and_si512(s, low3);
            hi = _mm512_srli_epi32(s, 3);
            lo = _mm512_or_si512(lo, _mm512_slli_epi32(lo, 16));
            hi = _mm512_or_si512(hi, _mm512_slli_epi32(hi, 16));
        };
        for (int q = 0; q < 4; ++q) {  // packed word 8q + g: sub-block 2q (low nibbles), 2q + 1 (high)
            __m512i lo_a, hi_a, lo_b, hi_b;
            halves(2 * q, lo_a, hi_a);
            halves(2 * q + 1, lo_b, hi_b);
            for (int g = 0; g < 8; ++g) {
                _mm_prefetch(reinterpret_cast<const char*>(group + kExpandPrefetch + 64 * (8 * q + g)), _MM_HINT_T0);
                const __m512i w = _mm512_loadu_si512(group + kPackedK4Levels + 64 * (8 * q + g));
                const __m512i a = _mm512_and_si512(w, m4), c = _mm512_and_si512(_mm512_srli_epi32(w, 4), m4);
                uint8_t* lo = out + kExpLo + q * kTile;
                uint8_t* hi = out + kExpHi + q * kTile;
                _mm512_store_si512(lo + 64 * g, _mm512_mullo_epi16(a, lo_a));
                _mm512_store_si512(lo + 64 * (8 + g), _mm512_mullo_epi16(c, lo_b));
                _mm512_store_si512(hi + 64 * g, _mm512_mullo_epi16(a, hi_a));
                _mm512_store_si512(hi + 64 * (8 + g), _mm512_mullo_epi16(c, hi_b));
            }
        }
        _mm512_store_ps(out + kExpD, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group))));
        _mm512_store_ps(out + kExpDMin, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32))));
        __m512i pairs[4];
        avx512::k4_min_pairs(words, pairs);
        for (int k = 0; k < 4; ++k) _mm512_store_si512(out + kExpPairs + 64 * k, pairs[k]);
    }
}

// 16 prepared rows (Q8_K blocks, then 8 pair sums per block) into gathered super-blocks.
void gather(const uint8_t* x, size_t x_stride, int64_t nb, uint8_t* out) {
    for (int64_t b = 0; b < nb; ++b, out += kGatherBytes)
        for (int t = 0; t < kTileTokens; ++t) {
            const uint8_t* row = x + t * x_stride;
            const auto& blk = reinterpret_cast<const BlockQ8_K*>(row)[b];
            for (int q = 0; q < 4; ++q)
                _mm512_store_si512(out + q * kTile + 64 * t, _mm512_loadu_si512(blk.qs + 64 * q));
            std::memcpy(out + kGatherD + 4 * t, &blk.d, 4);
            std::memcpy(out + kGatherSums + 16 * t, row + size_t(nb) * sizeof(BlockQ8_K) + 16 * size_t(b), 16);
        }
}

// 16 gathered tokens times one expanded group, every super-block: result tiles 0, 1 (lo,
// hi) for even super-blocks and 2, 3 for odd ones, activations in 4, 5, levels in 6, 7.
// Super-block b's tiles are stored before b + 1 is issued and scaled after it, so the
// vector work overlaps the tile unit's and never waits on its own store.
struct SuperBlocks {
    const uint8_t* exp;
    const uint8_t* tok;
    alignas(64) int32_t lo[2][256];
    alignas(64) int32_t hi[2][256];

    template <int P>  // result pair P: tiles 2P (lo), 2P + 1 (hi)
    void issue(int64_t b) {
        const uint8_t* e = exp + size_t(b) * kExpBytes;
        const uint8_t* a = tok + size_t(b) * kGatherBytes;
        tile_zero<2 * P>();
        tile_zero<2 * P + 1>();
        tile_load<4>(a, 64);
        tile_load<6>(e + kExpLo, 64);
        tile_dot<2 * P, 4, 6>();
        tile_load<7>(e + kExpHi, 64);
        tile_dot<2 * P + 1, 4, 7>();
        tile_load<5>(a + kTile, 64);
        tile_load<6>(e + kExpLo + kTile, 64);
        tile_dot<2 * P, 5, 6>();
        tile_load<7>(e + kExpHi + kTile, 64);
        tile_dot<2 * P + 1, 5, 7>();
        tile_load<4>(a + 2 * kTile, 64);
        tile_load<6>(e + kExpLo + 2 * kTile, 64);
        tile_dot<2 * P, 4, 6>();
        tile_load<7>(e + kExpHi + 2 * kTile, 64);
        tile_dot<2 * P + 1, 4, 7>();
        tile_load<5>(a + 3 * kTile, 64);
        tile_load<6>(e + kExpLo + 3 * kTile, 64);
        tile_dot<2 * P, 5, 6>();
        tile_load<7>(e + kExpHi + 3 * kTile, 64);
        tile_dot<2 * P + 1, 5, 7>();
    }
    template <int P>
    void store() {
        tile_store<2 * P>(lo[P]);
        tile_store<2 * P + 1>(hi[P]);
    }
    // acc[t] += d_x[t] * (d * (lo + 8 hi) - dmin * sum_k pairs_k . sums_k[t])
    void scale(int p, int64_t b, __m512 (&acc)[kTileTokens]) {
        const uint8_t* e = exp + size_t(b) * kExpBytes;
        const uint8_t* a = tok + size_t(b) * kGatherBytes;
        const __m512 d = _mm512_load_ps(e + kExpD), dmin = _mm512_load_ps(e + kExpDMin);
        const __m512i p0 = _mm512_load_si512(e + kExpPairs), p1 = _mm512_load_si512(e + kExpPairs + 64),
                      p2 = _mm512_load_si512(e + kExpPairs + 128), p3 = _mm512_load_si512(e + kExpPairs + 192);
        const float* dx = reinterpret_cast<const float*>(a + kGatherD);
#pragma GCC unroll 16
        for (int t = 0; t < kTileTokens; ++t) {
            const __m512i dot = _mm512_add_epi32(_mm512_load_si512(lo[p] + 16 * t),
                                                 _mm512_slli_epi32(_mm512_load_si512(hi[p] + 16 * t), 3));
            const uint8_t* sums = a + kGatherSums + 16 * t;
            __m512i mins = _mm512_dpwssd_epi32(_mm512_setzero_si512(), p0, avx512::broadcast_i32(sums));
            mins = _mm512_dpwssd_epi32(mins, p1, avx512::broadcast_i32(sums + 4));
            mins = _mm512_dpwssd_epi32(mins, p2, avx512::broadcast_i32(sums + 8));
            mins = _mm512_dpwssd_epi32(mins, p3, avx512::broadcast_i32(sums + 12));
            // The AVX-512 kernels' order of float operations, so that the tables agree to
            // the bit (the integer sums are exact in both).
            const __m512 x = _mm512_set1_ps(dx[t]);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(d, x), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, x), acc[t]);
        }
    }
    // Super-blocks [b0, b1).
    void run(int64_t b0, int64_t b1, __m512 (&acc)[kTileTokens]) {
        issue<0>(b0);
        for (int64_t b = b0; b < b1; b += 2) {
            store<0>();
            if (b + 1 < b1) issue<1>(b + 1);
            scale(0, b, acc);
            if (b + 1 >= b1) break;
            store<1>();
            if (b + 2 < b1) issue<0>(b + 2);
            scale(1, b + 1, acc);
        }
    }
};

}  // namespace

// Super-blocks per slice: a slice of one group's expanded levels (24 KiB) stays in
// the core's first-level cache while every token tile of the call passes over it.
constexpr int64_t kSliceBlocks = 3;
// Token tiles gathered at a time (a block of them stays in the second-level cache).
constexpr int64_t kBlockTiles = 4;

void gemm_packed_q4_k(GemmFn vnni, int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride,
                      const void* x, size_t x_stride, float* out, int64_t out_stride) {
    const int64_t full = n_tokens / kTileTokens * kTileTokens;
    if (full > 0) {
        configure_tiles(TileShape::Blocks64);
        const auto* wp = static_cast<const uint8_t*>(w);
        const auto* xp = static_cast<const uint8_t*>(x);
        const int64_t nb = n / kQK_K, groups = (n_rows + 15) / 16;
        const size_t group_bytes = size_t(nb) * kExpBytes, tile_bytes = size_t(nb) * kGatherBytes;
        // [expanded groups][gathered token tiles][accumulators: 16 tokens x 16 rows per tile]
        uint8_t* expanded = avx512::tile_buffer(size_t(groups) * group_bytes + size_t(kBlockTiles) * (tile_bytes + 1024));
        uint8_t* tokens = expanded + size_t(groups) * group_bytes;
        auto* sums = reinterpret_cast<float*>(tokens + size_t(kBlockTiles) * tile_bytes);
        for (int64_t g = 0; g < groups; ++g) expand(wp + size_t(16 * g) * w_stride, nb, expanded + size_t(g) * group_bytes);
        SuperBlocks sb;
        for (int64_t t0 = 0; t0 < full; t0 += kBlockTiles * kTileTokens) {
            const int64_t tiles = std::min<int64_t>(kBlockTiles, (full - t0) / kTileTokens);
            for (int64_t i = 0; i < tiles; ++i)
                gather(xp + size_t(t0 + i * kTileTokens) * x_stride, x_stride, nb, tokens + size_t(i) * tile_bytes);
            for (int64_t g = 0; g < groups; ++g) {
                sb.exp = expanded + size_t(g) * group_bytes;
                for (int64_t b0 = 0; b0 < nb; b0 += kSliceBlocks)
                    for (int64_t i = 0; i < tiles; ++i) {
                        float* tile_sums = sums + 256 * i;
                        __m512 acc[kTileTokens];
                        for (int t = 0; t < kTileTokens; ++t)
                            acc[t] = b0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(tile_sums + 16 * t);
                        sb.tok = tokens + size_t(i) * tile_bytes;
                        sb.run(b0, std::min(nb, b0 + kSliceBlocks), acc);
                        for (int t = 0; t < kTileTokens; ++t) _mm512_store_ps(tile_sums + 16 * t, acc[t]);
                    }
                const __mmask16 rows = __mmask16((1u << std::min<int64_t>(16, n_rows - 16 * g)) - 1);
                for (int64_t t = 0; t < tiles * kTileTokens; ++t)
                    _mm512_mask_storeu_ps(out + (t0 + t) * out_stride + 16 * g, rows, _mm512_load_ps(sums + 16 * t));
            }
        }
    }
    if (full < n_tokens)
        vnni(n, n_rows, n_tokens - full, w, w_stride, static_cast<const uint8_t*>(x) + size_t(full) * x_stride, x_stride,
             out + full * out_stride, out_stride);
}

}  // namespace dsm::kernels::amx
