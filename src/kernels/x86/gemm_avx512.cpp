// AVX-512 VNNI tiles of 16 weight rows x up to 12 tokens for prompts.
//
// A tile's rows are first repacked (once per call, reused by every token) so that one
// register holds the same 4 consecutive levels of 16 rows: lane r = row r. One
// vpdpbusd of that register with 4 activation bytes broadcast to all lanes advances
// 16 (row, token) dot products at once, with no horizontal sums anywhere. Levels are
// stored unsigned (dpbusd multiplies unsigned by signed bytes); the bias a format
// subtracts from its levels is applied exactly in integers:
//   Q4_0 / Q5_0 / Q8_0: the prepared token block carries -bias * sum(x) as the start
//                       value of the block's integer sum;
//   Q6_K: -32 * sum_j scale_j * bsum_j with vpdpwssd on (scale, scale) pairs;
//   Q4_K / Q5_K: the mins term sum_j min_j * bsum_j likewise, scaled by dmin.
// The float part per block is the scalar kernels' d_w * d_x * isum (with FMA).
// GCC 12 warns about the _mm512_undefined_*() inside its own intrinsics (GCC bug 105593).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/fp16.hpp"
#include "kernels/x86/avx512.hpp"
#include "quant/blocks.hpp"
#include "quant/unpack.hpp"

namespace dsm::kernels::avx512 {
namespace {

constexpr int kRows = 16;       // rows per tile: one per 32-bit lane
constexpr int kMaxTokens = 12;  // tokens per micro-kernel call (registers: 8 weights + 12 sums + temps)

inline __m512i broadcast_i32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// 64-byte aligned per-thread buffer for a repacked tile.
uint8_t* tile_buffer(size_t bytes) {
    struct alignas(64) Line {
        uint8_t bytes[64];
    };
    thread_local std::vector<Line> buf;
    if (buf.size() * 64 < bytes) buf.resize((bytes + 63) / 64);
    return buf.data()->bytes;
}

// Stores levels[0 .. 4 * groups) of row r into a tile region laid out [group][row][4].
inline void put_levels(uint8_t* dst, int r, const uint8_t* levels, int groups) {
    for (int g = 0; g < groups; ++g) std::memcpy(dst + 64 * g + 4 * r, levels + 4 * g, 4);
}

// ---- Q4_0 / Q5_0 / Q8_0 ------------------------------------------------------------

// A prepared activation block: the Q8_0 values, d as float and the integer start
// value -bias * sum(qs) for the weight type's bias.
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

// Tile block: levels [8 groups][16 rows][4] then 16 float scales.
constexpr size_t kLegacyBlockBytes = 512 + 64;

inline void legacy_levels(const BlockQ4_0& b, uint8_t* l) {
    for (int j = 0; j < 16; ++j) {
        l[j] = b.qs[j] & 0x0f;
        l[j + 16] = b.qs[j] >> 4;
    }
}
inline void legacy_levels(const BlockQ5_0& b, uint8_t* l) {
    uint32_t h;
    std::memcpy(&h, b.qh, 4);
    for (int j = 0; j < 16; ++j) {
        l[j] = uint8_t((b.qs[j] & 0x0f) | ((h >> j) & 1) << 4);
        l[j + 16] = uint8_t((b.qs[j] >> 4) | ((h >> (j + 16)) & 1) << 4);
    }
}
inline void legacy_levels(const BlockQ8_0& b, uint8_t* l) {
    for (int j = 0; j < 32; ++j) l[j] = uint8_t(b.qs[j] ^ 0x80);
}

template <typename Block>
void repack_legacy(const uint8_t* w, size_t w_stride, int rows, int64_t nb, uint8_t* tile) {
    if (rows < kRows) std::memset(tile, 0, size_t(nb) * kLegacyBlockBytes);
    for (int r = 0; r < rows; ++r) {
        const auto* blocks = reinterpret_cast<const Block*>(w + size_t(r) * w_stride);
        for (int64_t b = 0; b < nb; ++b) {
            uint8_t* dst = tile + size_t(b) * kLegacyBlockBytes;
            alignas(32) uint8_t levels[32];
            legacy_levels(blocks[b], levels);
            put_levels(dst, r, levels, 8);
            reinterpret_cast<float*>(dst + 512)[r] = fp16_to_f32(blocks[b].d);
        }
    }
}

template <int NT>
void kernel_legacy(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                   int64_t out_stride, __mmask16 rows) {
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = tile + size_t(b) * kLegacyBlockBytes;
        __m512i w[8];
        for (int g = 0; g < 8; ++g) w[g] = _mm512_load_si512(wb + 64 * g);
        const __m512 dw = _mm512_load_ps(wb + 512);
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
            const auto* xb = reinterpret_cast<const PreparedQ8_0*>(x + size_t(t) * x_stride) + b;
            __m512i sum = _mm512_set1_epi32(xb->start);
#pragma GCC unroll 8
            for (int g = 0; g < 8; ++g) sum = _mm512_dpbusd_epi32(sum, w[g], broadcast_i32(xb->qs + 4 * g));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), _mm512_mul_ps(dw, _mm512_set1_ps(xb->d)), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, rows, acc[t]);
}

// ---- Q4_K / Q5_K ------------------------------------------------------------------

// Tile super-block: levels [8 sub-blocks][8 groups][16 rows][4], int32 scales [8][16],
// (min, min) int16 pairs [8][16], float d [16], float dmin [16].
constexpr size_t kK4Levels = 8 * 512, kK4Scales = kK4Levels, kK4Mins = kK4Scales + 8 * 64, kK4D = kK4Mins + 8 * 64,
                 kK4DMin = kK4D + 64, kK4BlockBytes = kK4DMin + 64;

template <bool Q5>
void repack_q45_k(const uint8_t* w, size_t w_stride, int rows, int64_t nb, uint8_t* tile) {
    using Block = std::conditional_t<Q5, BlockQ5_K, BlockQ4_K>;
    if (rows < kRows) std::memset(tile, 0, size_t(nb) * kK4BlockBytes);
    for (int r = 0; r < rows; ++r) {
        const auto* blocks = reinterpret_cast<const Block*>(w + size_t(r) * w_stride);
        for (int64_t b = 0; b < nb; ++b) {
            const Block& blk = blocks[b];
            uint8_t* dst = tile + size_t(b) * kK4BlockBytes;
            alignas(32) uint8_t levels[kQK_K];
            for (int c = 0; c < 4; ++c) {
                for (int l = 0; l < 32; ++l) {
                    uint8_t lo = blk.qs[32 * c + l] & 0x0f, hi = blk.qs[32 * c + l] >> 4;
                    if constexpr (Q5) {
                        lo = uint8_t(lo | ((blk.qh[l] >> (2 * c)) & 1) << 4);
                        hi = uint8_t(hi | ((blk.qh[l] >> (2 * c + 1)) & 1) << 4);
                    }
                    levels[64 * c + l] = lo;
                    levels[64 * c + 32 + l] = hi;
                }
            }
            for (int j = 0; j < 8; ++j) {
                put_levels(dst + 512 * j, r, levels + 32 * j, 8);
                uint8_t sc, m;
                quant_detail::k4_scale_min(blk.scales, j, sc, m);
                reinterpret_cast<int32_t*>(dst + kK4Scales)[16 * j + r] = sc;
                reinterpret_cast<int32_t*>(dst + kK4Mins)[16 * j + r] = int32_t(uint32_t(m) | uint32_t(m) << 16);
            }
            reinterpret_cast<float*>(dst + kK4D)[r] = fp16_to_f32(blk.d);
            reinterpret_cast<float*>(dst + kK4DMin)[r] = fp16_to_f32(blk.dmin);
        }
    }
}

template <int NT>
void kernel_q45_k(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                  __mmask16 rows) {
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = tile + size_t(b) * kK4BlockBytes;
        __m512i isum[NT];
        for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j) {
            __m512i w[8];
            for (int g = 0; g < 8; ++g) w[g] = _mm512_load_si512(wb + 512 * j + 64 * g);
            const __m512i scale = _mm512_load_si512(wb + kK4Scales + 64 * j);
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                const int8_t* xq = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b].qs + 32 * j;
                __m512i s = _mm512_setzero_si512();
#pragma GCC unroll 8
                for (int g = 0; g < 8; ++g) s = _mm512_dpbusd_epi32(s, w[g], broadcast_i32(xq + 4 * g));
                isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s, scale));
            }
        }
        const __m512 d = _mm512_load_ps(wb + kK4D), dmin = _mm512_load_ps(wb + kK4DMin);
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
            const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b];
            __m512i mins = _mm512_setzero_si512();
            for (int j = 0; j < 8; ++j)
                mins = _mm512_dpwssd_epi32(mins, _mm512_load_si512(wb + kK4Mins + 64 * j), broadcast_i32(xb.bsums + 2 * j));
            const __m512 dx = _mm512_set1_ps(xb.d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, dx), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, rows, acc[t]);
}

// ---- Q6_K ---------------------------------------------------------------------------

// Tile super-block: levels [16 sub-blocks][4 groups][16 rows][4] (stored +32: 0..63),
// int32 scales [16][16], (scale_2i, scale_2i+1) int16 pairs [8][16], float d [16].
constexpr size_t kK6Scales = 16 * 256, kK6Pairs = kK6Scales + 16 * 64, kK6D = kK6Pairs + 8 * 64,
                 kK6BlockBytes = kK6D + 64;

void repack_q6_k(const uint8_t* w, size_t w_stride, int rows, int64_t nb, uint8_t* tile) {
    if (rows < kRows) std::memset(tile, 0, size_t(nb) * kK6BlockBytes);
    for (int r = 0; r < rows; ++r) {
        const auto* blocks = reinterpret_cast<const BlockQ6_K*>(w + size_t(r) * w_stride);
        for (int64_t b = 0; b < nb; ++b) {
            const BlockQ6_K& blk = blocks[b];
            uint8_t* dst = tile + size_t(b) * kK6BlockBytes;
            alignas(32) uint8_t levels[kQK_K];
            for (int half = 0; half < 2; ++half) {
                const uint8_t* ql = blk.ql + 64 * half;
                const uint8_t* qh = blk.qh + 32 * half;
                for (int k = 0; k < 4; ++k)
                    for (int l = 0; l < 32; ++l)
                        levels[128 * half + 32 * k + l] =
                            uint8_t(((ql[l + 32 * (k % 2)] >> (4 * (k / 2))) & 0x0f) | ((qh[l] >> (2 * k)) & 3) << 4);
            }
            for (int j = 0; j < 16; ++j) {
                put_levels(dst + 256 * j, r, levels + 16 * j, 4);
                reinterpret_cast<int32_t*>(dst + kK6Scales)[16 * j + r] = blk.scales[j];
            }
            for (int i = 0; i < 8; ++i)
                reinterpret_cast<int32_t*>(dst + kK6Pairs)[16 * i + r] =
                    int32_t(uint32_t(uint16_t(blk.scales[2 * i])) | uint32_t(uint16_t(blk.scales[2 * i + 1])) << 16);
            reinterpret_cast<float*>(dst + kK6D)[r] = fp16_to_f32(blk.d);
        }
    }
}

template <int NT>
void kernel_q6_k(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                 __mmask16 rows) {
    __m512 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = tile + size_t(b) * kK6BlockBytes;
        __m512i isum[NT];
        for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 16; j += 2) {
            __m512i w[8];
            for (int g = 0; g < 8; ++g) w[g] = _mm512_load_si512(wb + 256 * j + 64 * g);
            const __m512i s0 = _mm512_load_si512(wb + kK6Scales + 64 * j);
            const __m512i s1 = _mm512_load_si512(wb + kK6Scales + 64 * (j + 1));
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) {
                const int8_t* xq = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b].qs + 16 * j;
                __m512i p0 = _mm512_setzero_si512(), p1 = _mm512_setzero_si512();
#pragma GCC unroll 4
                for (int g = 0; g < 4; ++g) {
                    p0 = _mm512_dpbusd_epi32(p0, w[g], broadcast_i32(xq + 4 * g));
                    p1 = _mm512_dpbusd_epi32(p1, w[g + 4], broadcast_i32(xq + 16 + 4 * g));
                }
                isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(p0, s0), _mm512_mullo_epi32(p1, s1)));
            }
        }
        const __m512 d = _mm512_load_ps(wb + kK6D);
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
            const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b];
            __m512i bias = _mm512_setzero_si512();
            for (int i = 0; i < 8; ++i)
                bias = _mm512_dpwssd_epi32(bias, _mm512_load_si512(wb + kK6Pairs + 64 * i), broadcast_i32(xb.bsums + 2 * i));
            const __m512i total = _mm512_sub_epi32(isum[t], _mm512_slli_epi32(bias, 5));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(total), _mm512_mul_ps(d, _mm512_set1_ps(xb.d)), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, rows, acc[t]);
}

// ---- driver -------------------------------------------------------------------------

using RepackFn = void (*)(const uint8_t* w, size_t w_stride, int rows, int64_t nb, uint8_t* tile);
using KernelFn = void (*)(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                          int64_t out_stride, __mmask16 rows);

template <template <int> class K, int... NT>
KernelFn kernel_for(int nt, std::integer_sequence<int, NT...>) {
    KernelFn fn = nullptr;
    ((fn = nt == NT + 1 ? K<NT + 1>::fn : fn), ...);
    return fn;
}

template <int NT>
struct Legacy {
    static constexpr KernelFn fn = kernel_legacy<NT>;
};
template <int NT>
struct K45 {
    static constexpr KernelFn fn = kernel_q45_k<NT>;
};
template <int NT>
struct K6 {
    static constexpr KernelFn fn = kernel_q6_k<NT>;
};

// Rows in tiles of 16 (repacked once), tokens in groups of up to MaxT per kernel call.
template <RepackFn Repack, template <int> class K, int BlockElems, size_t BlockBytes, int MaxT>
void gemm(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x, size_t x_stride,
          float* out, int64_t out_stride) {
    const int64_t nb = n / BlockElems;
    uint8_t* tile = tile_buffer(size_t(nb) * BlockBytes);
    const auto* wp = static_cast<const uint8_t*>(w);
    const auto* xp = static_cast<const uint8_t*>(x);
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
        const int rows = int(std::min<int64_t>(kRows, n_rows - r0));
        Repack(wp + size_t(r0) * w_stride, w_stride, rows, nb, tile);
        const __mmask16 mask = __mmask16((1u << rows) - 1);
        for (int64_t t0 = 0; t0 < n_tokens;) {
            // Spread a remainder over the last two calls rather than one tiny call.
            int64_t nt = std::min<int64_t>(MaxT, n_tokens - t0);
            if (n_tokens - t0 > MaxT && n_tokens - t0 < 2 * MaxT) nt = (n_tokens - t0 + 1) / 2;
            kernel_for<K>(int(nt), std::make_integer_sequence<int, MaxT>())(tile, nb, xp + size_t(t0) * x_stride, x_stride,
                                                                             out + t0 * out_stride + r0, out_stride, mask);
            t0 += nt;
        }
    }
}

}  // namespace

void set_gemm_kernels(KernelTable& t) {
    auto legacy = [&](DType type, GemmFn fn, GemmPrepareFn prepare) {
        GemmKernel& k = t.gemm[int(type)];
        k.gemm = fn;
        k.prepare = prepare;
        k.prepared_block_bytes = sizeof(PreparedQ8_0);
        k.row_tile = kRows;
    };
    legacy(DType::Q4_0, gemm<repack_legacy<BlockQ4_0>, Legacy, 32, kLegacyBlockBytes, kMaxTokens>, prepare_q8_0<8>);
    legacy(DType::Q5_0, gemm<repack_legacy<BlockQ5_0>, Legacy, 32, kLegacyBlockBytes, kMaxTokens>, prepare_q8_0<16>);
    legacy(DType::Q8_0, gemm<repack_legacy<BlockQ8_0>, Legacy, 32, kLegacyBlockBytes, kMaxTokens>, prepare_q8_0<128>);
    auto kquant = [&](DType type, GemmFn fn) {
        GemmKernel& k = t.gemm[int(type)];
        k.gemm = fn;
        k.row_tile = kRows;
    };
    kquant(DType::Q4_K, gemm<repack_q45_k<false>, K45, kQK_K, kK4BlockBytes, 8>);
    kquant(DType::Q5_K, gemm<repack_q45_k<true>, K45, kQK_K, kK4BlockBytes, 8>);
    kquant(DType::Q6_K, gemm<repack_q6_k, K6, kQK_K, kK6BlockBytes, 8>);
}

}  // namespace dsm::kernels::avx512
