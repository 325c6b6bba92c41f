// Internal: the AVX-512 VNNI tile kernels shared by the prompt gemm (gemm_avx512.cpp,
// which rearranges 16 file rows per call) and the packed-at-load kernels
// (gemm_packed_avx512.cpp, which expand packed groups into the same tiles). Tile
// layouts and the integer bias handling are described in gemm_avx512.cpp.
#pragma once
#include <cstddef>
#include <cstring>
#include <utility>
#include <vector>

#include "core/fp16.hpp"
#include "kernels/x86/avx512.hpp"
#include "kernels/x86/layouts.hpp"
#include "quant/blocks.hpp"

namespace dsm::kernels::avx512 {

constexpr int kRows = 16;       // rows per tile: one per 32-bit lane
constexpr int kMaxTokens = 8;  // tokens per micro-kernel call: 8 sums + 8 accumulators in registers

inline __m512i broadcast_i32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

// sum + dpbusd(w, the 4 bytes at p in every lane), with the broadcast folded into the
// instruction's memory operand (GCC emits a separate vpbroadcastd otherwise).
inline __m512i dpbusd_bcast(__m512i sum, __m512i w, const void* p) {
    asm("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(sum) : "v"(w), "m"(*static_cast<const int32_t*>(p)));
    return sum;
}

// 64-byte aligned per-thread buffer for a repacked tile.
inline uint8_t* tile_buffer(size_t bytes) {
    struct alignas(64) Line {
        uint8_t bytes[64];
    };
    thread_local std::vector<Line> buf;
    if (buf.size() * 64 < bytes) buf.resize((bytes + 63) / 64);
    return buf.data()->bytes;
}

inline __m512i low_nibbles(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0f)); }
inline __m512i high_nibbles(__m512i v) { return _mm512_and_si512(_mm512_srli_epi32(v, 4), _mm512_set1_epi8(0x0f)); }
inline void store(uint8_t* p, __m512i v) { _mm512_store_si512(p, v); }

// ---- Q4_0 / Q5_0 / Q8_0 ------------------------------------------------------------

using x86::prepare_q8_0;
using x86::PreparedQ8_0;

// Tile block: levels [8 groups][16 rows][4] then 16 float scales.
constexpr size_t kLegacyBlockBytes = 512 + 64;

// The loops run over a weight register (group g) and then the tokens, so that
// consecutive dpbusd are independent (one sum per token in flight).
template <int NT>
void kernel_legacy(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                   int64_t out_stride, __mmask16 rows) {
    __m512 acc[NT];
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = tile + size_t(b) * kLegacyBlockBytes;
        const PreparedQ8_0* xb[NT];
        __m512i sum[NT];
        #pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const PreparedQ8_0*>(x + size_t(t) * x_stride) + b;
            sum[t] = _mm512_set1_epi32(xb[t]->start);
        }
#pragma GCC unroll 8
        for (int g = 0; g < 8; ++g) {
            const __m512i w = _mm512_load_si512(wb + 64 * g);
#pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) sum[t] = dpbusd_bcast(sum[t], w, xb[t]->qs + 4 * g);
        }
        const __m512 dw = _mm512_load_ps(wb + 512);
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[t]), _mm512_mul_ps(dw, _mm512_set1_ps(xb[t]->d)), acc[t]);
    }
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, rows, acc[t]);
}

// ---- Q4_K / Q5_K ------------------------------------------------------------------

// Tile super-block: levels [8 sub-blocks][8 groups][16 rows][4], int32 scales [8][16],
// (min, min) int16 pairs [8][16], float d [16], float dmin [16].
constexpr size_t kK4Levels = 8 * 512, kK4Scales = kK4Levels, kK4Mins = kK4Scales + 8 * 64, kK4D = kK4Mins + 8 * 64,
                 kK4DMin = kK4D + 64, kK4BlockBytes = kK4DMin + 64;

// The 6-bit scales and mins of 16 Q4_K / Q5_K blocks (see quant_detail::k4_scale_min)
// from their packed scale words A, B, C (bytes 0..3, 4..7, 8..11 of each lane's block):
// out[0..3] hold, four per word, scales 0..3, scales 4..7, mins 0..3, mins 4..7.
inline void k4_scale_words(__m512i A, __m512i B, __m512i C, __m512i out[4]) {
    const __m512i m6 = _mm512_set1_epi8(0x3f), m4 = _mm512_set1_epi8(0x0f), top2 = _mm512_set1_epi8(0x30);
    out[0] = _mm512_and_si512(A, m6);
    out[1] = _mm512_or_si512(_mm512_and_si512(C, m4), _mm512_and_si512(_mm512_srli_epi32(A, 2), top2));
    out[2] = _mm512_and_si512(B, m6);
    out[3] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(C, 4), m4), _mm512_and_si512(_mm512_srli_epi32(B, 2), top2));
}

// The mins of 16 Q4_K / Q5_K blocks as 16-bit pairs (min 2k, min 2k + 1) in pairs[k],
// k < 4, from k4_scale_words' mins words: one dpwssd against the activations' matching
// pair of 32-value sums adds two sub-blocks' corrections.
inline void k4_min_pairs(const __m512i words[4], __m512i pairs[4]) {
    const __m512i byte = _mm512_set1_epi32(0xff);
    for (int h = 0; h < 2; ++h) {
        const __m512i mn = words[2 + h];
        pairs[2 * h] = _mm512_or_si512(_mm512_and_si512(mn, byte),
                                       _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(mn, 8), byte), 16));
        pairs[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(mn, 16), byte),
                                           _mm512_slli_epi32(_mm512_srli_epi32(mn, 24), 16));
    }
}

// A tile super-block's int32 scales and (min, min) pairs, from k4_scale_words.
inline void store_k4_scales(const __m512i words[4], uint8_t* tile) {
    const __m512i byte = _mm512_set1_epi32(0xff);
    for (int j = 0; j < 8; ++j) {
        const __m512i sc = _mm512_and_si512(_mm512_srli_epi32(words[j / 4], 8 * (j % 4)), byte);
        const __m512i m = _mm512_and_si512(_mm512_srli_epi32(words[2 + j / 4], 8 * (j % 4)), byte);
        store(tile + kK4Scales + 64 * j, sc);
        store(tile + kK4Mins + 64 * j, _mm512_or_si512(m, _mm512_slli_epi32(m, 16)));
    }
}

template <int NT>
void kernel_q45_k(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                  __mmask16 rows) {
    __m512 acc[NT];
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = tile + size_t(b) * kK4BlockBytes;
        __m512i isum[NT];
        #pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 8; ++j) {
            __m512i s[NT];
            #pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) s[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int g = 0; g < 8; ++g) {
                const __m512i w = _mm512_load_si512(wb + 512 * j + 64 * g);
#pragma GCC unroll 16
                for (int t = 0; t < NT; ++t) {
                    const int8_t* xq = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b].qs + 32 * j;
                    s[t] = dpbusd_bcast(s[t], w, xq + 4 * g);
                }
            }
            const __m512i scale = _mm512_load_si512(wb + kK4Scales + 64 * j);
            #pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], scale));
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
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, rows, acc[t]);
}

// ---- Q6_K ---------------------------------------------------------------------------

// Tile super-block: levels [16 sub-blocks][4 groups][16 rows][4] (stored +32: 0..63),
// int32 scales [16][16], (scale_2i, scale_2i+1) int16 pairs [8][16], float d [16].
constexpr size_t kK6Scales = 16 * 256, kK6Pairs = kK6Scales + 16 * 64, kK6D = kK6Pairs + 8 * 64,
                 kK6BlockBytes = kK6D + 64;

template <int NT>
void kernel_q6_k(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                 __mmask16 rows) {
    __m512 acc[NT];
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = tile + size_t(b) * kK6BlockBytes;
        __m512i isum[NT];
        #pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
        for (int j = 0; j < 16; ++j) {
            __m512i s[NT];
            #pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) s[t] = _mm512_setzero_si512();
#pragma GCC unroll 4
            for (int g = 0; g < 4; ++g) {
                const __m512i w = _mm512_load_si512(wb + 256 * j + 64 * g);
#pragma GCC unroll 16
                for (int t = 0; t < NT; ++t) {
                    const int8_t* xq = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b].qs + 16 * j;
                    s[t] = dpbusd_bcast(s[t], w, xq + 4 * g);
                }
            }
            const __m512i scale = _mm512_load_si512(wb + kK6Scales + 64 * j);
            #pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) isum[t] = _mm512_add_epi32(isum[t], _mm512_mullo_epi32(s[t], scale));
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
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, rows, acc[t]);
}

// ---- layouts packed at load (gemm_packed_avx512.cpp) --------------------------------

// Packed Q4_0 / Q8_0 block of 16 rows: fp16 d [16], then Words words of levels.
template <int Words>
constexpr size_t kPackedLegacyBytes = x86::PackedLegacyLayout<kRows, Words>::kBytes;

// Packed Q4_K, per super-block of 16 rows: x86/layouts.hpp's layout with 64-byte words.
// The scales are unpacked in registers, once per super-block for every token.
constexpr size_t kPackedK4Scales = 64, kPackedK4Levels = kPackedK4Scales + 3 * 64, kPackedK4Bytes = 16 * 144;
static_assert(kPackedK4Levels + 32 * 64 == kPackedK4Bytes);

// Prepared activations of packed Q4_K: the row's Q8_K blocks as they are (which the
// prompt kernel reads), then per block its 16-value sums added in pairs, one int16
// per 32-value sub-block (which decode multiplies by the mins).
constexpr size_t kQ8KPairsBlockBytes = sizeof(BlockQ8_K) + 16;

// ---- calling the tile kernels -------------------------------------------------------

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

// One tile of 16 rows times every token, in calls of up to MaxT tokens.
template <template <int> class K, int MaxT>
void tile_times_tokens(const uint8_t* tile, int64_t nb, int64_t n_tokens, const uint8_t* x, size_t x_stride, float* out,
                       int64_t out_stride, int rows) {
    const __mmask16 mask = __mmask16((1u << rows) - 1);
    for (int64_t t0 = 0; t0 < n_tokens;) {
        // Spread a remainder over the last two calls rather than one tiny call.
        int64_t nt = std::min<int64_t>(MaxT, n_tokens - t0);
        if (n_tokens - t0 > MaxT && n_tokens - t0 < 2 * MaxT) nt = (n_tokens - t0 + 1) / 2;
        kernel_for<K>(int(nt), std::make_integer_sequence<int, MaxT>())(tile, nb, x + size_t(t0) * x_stride, x_stride,
                                                                         out + t0 * out_stride, out_stride, mask);
        t0 += nt;
    }
}

}  // namespace dsm::kernels::avx512
