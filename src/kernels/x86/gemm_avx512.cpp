// AVX-512 VNNI tiles of 16 weight rows x up to 8 tokens for prompts.
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
#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "core/fp16.hpp"
#include "kernels/x86/avx512.hpp"
#include "quant/blocks.hpp"
#include "quant/unpack.hpp"

namespace dsm::kernels::avx512 {
namespace {

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
uint8_t* tile_buffer(size_t bytes) {
    struct alignas(64) Line {
        uint8_t bytes[64];
    };
    thread_local std::vector<Line> buf;
    if (buf.size() * 64 < bytes) buf.resize((bytes + 63) / 64);
    return buf.data()->bytes;
}

// The 16 rows of a tile, as pointers (rows past the matrix point at zeros, which
// repack to levels with scale 0).
using Rows = const uint8_t* const*;

// Lane r of out[k] = the 32-bit word k of the 16 bytes at rows[r] + offset.
inline void transpose16x4(Rows rows, size_t offset, __m512i out[4]) {
    __m512i t[4];
    const __m512i idx = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    for (int q = 0; q < 4; ++q) {
        auto row = [&](int i) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[4 * q + i] + offset)); };
        __m512i z = _mm512_castsi128_si512(row(0));
        z = _mm512_inserti32x4(z, row(1), 1);
        z = _mm512_inserti32x4(z, row(2), 2);
        z = _mm512_inserti32x4(z, row(3), 3);
        t[q] = _mm512_permutexvar_epi32(idx, z);  // 128-bit lane k: word k of rows 4q .. 4q + 3
    }
    const __m512i a = _mm512_shuffle_i32x4(t[0], t[1], 0x44), b = _mm512_shuffle_i32x4(t[2], t[3], 0x44);
    const __m512i c = _mm512_shuffle_i32x4(t[0], t[1], 0xee), d = _mm512_shuffle_i32x4(t[2], t[3], 0xee);
    out[0] = _mm512_shuffle_i32x4(a, b, 0x88);
    out[1] = _mm512_shuffle_i32x4(a, b, 0xdd);
    out[2] = _mm512_shuffle_i32x4(c, d, 0x88);
    out[3] = _mm512_shuffle_i32x4(c, d, 0xdd);
}

// The fp16 at rows[r] + offset of the 16 rows, as floats.
inline __m512 gather_fp16(Rows rows, size_t offset) {
    alignas(32) uint16_t h[kRows];
    for (int r = 0; r < kRows; ++r) std::memcpy(&h[r], rows[r] + offset, 2);
    return _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(h)));
}

inline __m512i low_nibbles(__m512i v) { return _mm512_and_si512(v, _mm512_set1_epi8(0x0f)); }
inline __m512i high_nibbles(__m512i v) { return _mm512_and_si512(_mm512_srli_epi32(v, 4), _mm512_set1_epi8(0x0f)); }
inline void store(uint8_t* p, __m512i v) { _mm512_store_si512(p, v); }

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

void repack_q4_0(Rows rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kLegacyBlockBytes) {
        const size_t at = size_t(b) * sizeof(BlockQ4_0);
        __m512i q[4];
        transpose16x4(rows, at + 2, q);  // element 4g + i: low nibble of byte 4g + i; 16 + 4g + i: high nibble
        for (int g = 0; g < 4; ++g) {
            store(tile + 64 * g, low_nibbles(q[g]));
            store(tile + 64 * (g + 4), high_nibbles(q[g]));
        }
        _mm512_store_ps(tile + 512, gather_fp16(rows, at));
    }
}

void repack_q8_0(Rows rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kLegacyBlockBytes) {
        const size_t at = size_t(b) * sizeof(BlockQ8_0);
        __m512i q[8];
        transpose16x4(rows, at + 2, q);
        transpose16x4(rows, at + 18, q + 4);
        for (int g = 0; g < 8; ++g) store(tile + 64 * g, _mm512_xor_si512(q[g], _mm512_set1_epi8(int8_t(-128))));
        _mm512_store_ps(tile + 512, gather_fp16(rows, at));
    }
}

void repack_q5_0(Rows rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kLegacyBlockBytes) {
        const size_t at = size_t(b) * sizeof(BlockQ5_0);
        __m512i q[4], qh[4];
        transpose16x4(rows, at + 6, q);
        transpose16x4(rows, at + 2, qh);  // word 0: the 32 fifth bits, bit e for element e
        for (int g = 0; g < 8; ++g) {
            // Bits 4g .. 4g + 3 of qh to bit 4 of the group's 4 bytes.
            const __m512i bits = _mm512_and_si512(_mm512_srli_epi32(qh[0], 4 * g), _mm512_set1_epi32(0x0f));
            const __m512i spread = _mm512_and_si512(_mm512_mullo_epi32(bits, _mm512_set1_epi32(0x00204081)),
                                                    _mm512_set1_epi32(0x01010101));
            const __m512i nib = g < 4 ? low_nibbles(q[g]) : high_nibbles(q[g - 4]);
            store(tile + 64 * g, _mm512_or_si512(nib, _mm512_slli_epi32(spread, 4)));
        }
        _mm512_store_ps(tile + 512, gather_fp16(rows, at));
    }
}

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

template <bool Q5>
void repack_q45_k(Rows rows, int64_t nb, uint8_t* tile) {
    using Block = std::conditional_t<Q5, BlockQ5_K, BlockQ4_K>;
    constexpr size_t kQs = offsetof(Block, qs);
    for (int64_t b = 0; b < nb; ++b, tile += kK4BlockBytes) {
        const size_t at = size_t(b) * sizeof(Block);
        // Word 0: d | dmin << 16; words 1..3: the packed scales A, B, C.
        __m512i head[4];
        transpose16x4(rows, at, head);
        __m512i qh[8];
        if constexpr (Q5) {
            transpose16x4(rows, at + offsetof(BlockQ5_K, qh), qh);
            transpose16x4(rows, at + offsetof(BlockQ5_K, qh) + 16, qh + 4);
        }
        for (int c = 0; c < 4; ++c) {
            __m512i q[8];
            transpose16x4(rows, at + kQs + 32 * c, q);
            transpose16x4(rows, at + kQs + 32 * c + 16, q + 4);
            for (int g = 0; g < 8; ++g) {
                __m512i lo = low_nibbles(q[g]), hi = high_nibbles(q[g]);
                if constexpr (Q5) {
                    const __m512i one = _mm512_set1_epi8(1);
                    lo = _mm512_or_si512(lo, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[g], 2 * c), one), 4));
                    hi = _mm512_or_si512(hi, _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(qh[g], 2 * c + 1), one), 4));
                }
                store(tile + 512 * (2 * c) + 64 * g, lo);
                store(tile + 512 * (2 * c + 1) + 64 * g, hi);
            }
        }
        // The 6-bit scales and mins (see quant_detail::k4_scale_min), four per word.
        const __m512i m6 = _mm512_set1_epi32(0x3f3f3f3f), m4 = _mm512_set1_epi32(0x0f0f0f0f),
                      top2 = _mm512_set1_epi32(0x30303030);
        const __m512i A = head[1], B = head[2], C = head[3];
        const __m512i words[4] = {
            _mm512_and_si512(A, m6),                                                                   // scales 0..3
            _mm512_or_si512(_mm512_and_si512(C, m4), _mm512_and_si512(_mm512_srli_epi32(A, 2), top2)),  // scales 4..7
            _mm512_and_si512(B, m6),                                                                   // mins 0..3
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(C, 4), m4),
                            _mm512_and_si512(_mm512_srli_epi32(B, 2), top2)),  // mins 4..7
        };
        const __m512i byte = _mm512_set1_epi32(0xff);
        for (int j = 0; j < 8; ++j) {
            const __m512i sc = _mm512_and_si512(_mm512_srli_epi32(words[j / 4], 8 * (j % 4)), byte);
            const __m512i m = _mm512_and_si512(_mm512_srli_epi32(words[2 + j / 4], 8 * (j % 4)), byte);
            store(tile + kK4Scales + 64 * j, sc);
            store(tile + kK4Mins + 64 * j, _mm512_or_si512(m, _mm512_slli_epi32(m, 16)));
        }
        _mm512_store_ps(tile + kK4D, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head[0])));
        _mm512_store_ps(tile + kK4DMin, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(head[0], 16))));
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

void repack_q6_k(Rows rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kK6BlockBytes) {
        const size_t at = size_t(b) * sizeof(BlockQ6_K);
        __m512i ql[32], qh[16], sc[4];
        for (int k = 0; k < 8; ++k) transpose16x4(rows, at + 16 * k, ql + 4 * k);
        for (int k = 0; k < 4; ++k) transpose16x4(rows, at + offsetof(BlockQ6_K, qh) + 16 * k, qh + 4 * k);
        transpose16x4(rows, at + offsetof(BlockQ6_K, scales), sc);
        // Element 128h + 32k + l: nibble k/2 of ql[64h + 32(k%2) + l], bits 2k of qh[32h + l];
        // sub-block j = 8h + 2k + l/16, group g = (l % 16) / 4.
        const __m512i m4 = _mm512_set1_epi8(0x0f), m2 = _mm512_set1_epi8(3);
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k)
                for (int half = 0; half < 2; ++half)
                    for (int g = 0; g < 4; ++g) {
                        const int l = 16 * half + 4 * g;
                        const __m512i lo = _mm512_and_si512(_mm512_srli_epi32(ql[(64 * h + 32 * (k % 2) + l) / 4], 4 * (k / 2)), m4);
                        const __m512i hi = _mm512_and_si512(_mm512_srli_epi32(qh[(32 * h + l) / 4], 2 * k), m2);
                        store(tile + 256 * (8 * h + 2 * k + half) + 64 * g, _mm512_or_si512(lo, _mm512_slli_epi32(hi, 4)));
                    }
        for (int j = 0; j < 16; ++j)  // sign-extended scale j: byte j % 4 of word j / 4
            store(tile + kK6Scales + 64 * j, _mm512_srai_epi32(_mm512_slli_epi32(sc[j / 4], 24 - 8 * (j % 4)), 24));
        for (int i = 0; i < 8; ++i) {
            const __m512i w = sc[i / 2];
            const int s0 = 16 * (i % 2);  // bytes 2 (i % 2) and 2 (i % 2) + 1 of the word
            const __m512i lo = _mm512_srai_epi32(_mm512_slli_epi32(w, 24 - s0), 24);
            const __m512i hi = _mm512_srai_epi32(_mm512_slli_epi32(w, 16 - s0), 24);
            store(tile + kK6Pairs + 64 * i,
                  _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi, 16)));
        }
        _mm512_store_ps(tile + kK6D, gather_fp16(rows, at + offsetof(BlockQ6_K, d)));
    }
}

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

// ---- packed at load (KernelTable::packed) --------------------------------------------
//
// The same lane = row arrangement, written once when the model loads, kept as compact
// as the file's blocks so that decode reads no more bytes than the file holds. Per
// block of 16 rows: the 16 fp16 scales (32 bytes), then words of 64 bytes whose lane r
// holds 4 bytes of row r's levels:
//   Q4_0: 4 words, word g = packed bytes 4g .. 4g + 3 (low nibbles: elements 4g + i,
//         high nibbles: 16 + 4g + i)                         288 bytes = 16 x 18
//   Q8_0: 8 words, word g = levels 4g .. 4g + 3, stored + 128  544 bytes = 16 x 34
// Decode streams through the groups (one pass over memory, prefetched ahead: this
// CPU family's hardware prefetcher does not keep up with a compute-heavy stream).

template <typename Block, int Words>
void pack_legacy(int64_t cols, int64_t rows, const void* w, size_t w_stride, void* packed) {
    const int64_t nb = cols / 32, groups = (rows + kRows - 1) / kRows;
    constexpr size_t kLevels = offsetof(Block, qs);
    constexpr uint8_t kFlip = Words == 8 ? 0x80 : 0;  // Q8_0 levels stored unsigned
    auto* out = static_cast<uint8_t*>(packed);
    for (int64_t g = 0; g < groups; ++g)
        for (int64_t b = 0; b < nb; ++b, out += 32 + 64 * Words)
            for (int r = 0; r < kRows; ++r) {
                const int64_t row = g * kRows + r;
                if (row >= rows) {
                    std::memset(out + 2 * r, 0, 2);
                    for (int k = 0; k < Words; ++k) std::memset(out + 32 + 64 * k + 4 * r, int(kFlip), 4);
                    continue;
                }
                const uint8_t* blk = static_cast<const uint8_t*>(w) + size_t(row) * w_stride + size_t(b) * sizeof(Block);
                std::memcpy(out + 2 * r, blk, 2);  // d, the block's first field
                for (int k = 0; k < Words; ++k) {
                    uint32_t v;
                    std::memcpy(&v, blk + kLevels + 4 * k, 4);
                    v ^= kFlip * 0x01010101u;
                    std::memcpy(out + 32 + 64 * k + 4 * r, &v, 4);
                }
            }
}

// Bytes ahead of the block in use that decode asks the cache for.
constexpr size_t kPrefetchAhead = 1024;

template <int Words>
inline void prefetch_block(const uint8_t* wb) {
    #pragma GCC unroll 16
    for (size_t at = 0; at < 32 + 64 * Words; at += 64) _mm_prefetch(reinterpret_cast<const char*>(wb + kPrefetchAhead + at), _MM_HINT_T0);
}

template <int Words, int NT>
void kernel_packed_legacy(const uint8_t* group, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                          int64_t out_stride, __mmask16 rows) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc[NT];
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = group + size_t(b) * (32 + 64 * Words);
        prefetch_block<Words>(wb);
        const PreparedQ8_0* xb[NT];
        __m512i sum[NT];
        #pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const PreparedQ8_0*>(x + size_t(t) * x_stride) + b;
            sum[t] = _mm512_set1_epi32(xb[t]->start);
        }
#pragma GCC unroll 8
        for (int g = 0; g < Words; ++g) {
            const __m512i w = _mm512_loadu_si512(wb + 32 + 64 * g);
            if constexpr (Words == 4) {
                const __m512i lo = _mm512_and_si512(w, m4), hi = _mm512_and_si512(_mm512_srli_epi32(w, 4), m4);
#pragma GCC unroll 16
                for (int t = 0; t < NT; ++t) {
                    sum[t] = dpbusd_bcast(sum[t], lo, xb[t]->qs + 4 * g);
                    sum[t] = dpbusd_bcast(sum[t], hi, xb[t]->qs + 16 + 4 * g);
                }
            } else {
#pragma GCC unroll 16
                for (int t = 0; t < NT; ++t) sum[t] = dpbusd_bcast(sum[t], w, xb[t]->qs + 4 * g);
            }
        }
        const __m512 dw = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb)));
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum[t]), _mm512_mul_ps(dw, _mm512_set1_ps(xb[t]->d)), acc[t]);
    }
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, rows, acc[t]);
}

// Packed Q4_K, per super-block of 16 rows (16 x 144 bytes): fp16 d [16], fp16 dmin [16],
// the three words of packed 6-bit scales and mins, then 32 level words, word 8c + g =
// bytes 4g .. 4g + 3 of the block's 32-byte chunk c (low nibbles: sub-block 2c, high:
// 2c + 1). The scales are unpacked in registers, once per super-block for every token.
constexpr size_t kPackedK4Scales = 64, kPackedK4Levels = kPackedK4Scales + 3 * 64, kPackedK4Bytes = 16 * 144;
static_assert(kPackedK4Levels + 32 * 64 == kPackedK4Bytes);

void pack_q4_k(int64_t cols, int64_t rows, const void* w, size_t w_stride, void* packed) {
    const int64_t nb = cols / kQK_K, groups = (rows + kRows - 1) / kRows;
    auto* out = static_cast<uint8_t*>(packed);
    for (int64_t g = 0; g < groups; ++g)
        for (int64_t b = 0; b < nb; ++b, out += kPackedK4Bytes)
            for (int r = 0; r < kRows; ++r) {
                const int64_t row = g * kRows + r;
                BlockQ4_K blk{};
                if (row < rows)
                    std::memcpy(&blk, static_cast<const uint8_t*>(w) + size_t(row) * w_stride + size_t(b) * sizeof(BlockQ4_K),
                                sizeof blk);
                std::memcpy(out + 2 * r, &blk.d, 2);
                std::memcpy(out + 32 + 2 * r, &blk.dmin, 2);
                for (int k = 0; k < 3; ++k) std::memcpy(out + kPackedK4Scales + 64 * k + 4 * r, blk.scales + 4 * k, 4);
                for (int k = 0; k < 32; ++k) std::memcpy(out + kPackedK4Levels + 64 * k + 4 * r, blk.qs + 4 * k, 4);
            }
}

// Prepared activations of packed Q4_K: the row's Q8_K blocks as they are (which the
// prompt kernel reads), then per block its 16-value sums added in pairs, one int16
// per 32-value sub-block (which decode multiplies by the mins).
constexpr size_t kQ8KPairsBlockBytes = sizeof(BlockQ8_K) + 16;

void prepare_q8_k_pairs(int64_t n, const void* x, void* prepared) {
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const int64_t nb = n / kQK_K;
    std::memcpy(prepared, x, size_t(nb) * sizeof(BlockQ8_K));
    auto* sums = reinterpret_cast<int16_t*>(static_cast<uint8_t*>(prepared) + size_t(nb) * sizeof(BlockQ8_K));
    for (int64_t i = 0; i < nb; ++i)
        for (int j = 0; j < 8; ++j) sums[8 * i + j] = int16_t(b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
}

template <int NT>
void kernel_packed_q4_k(const uint8_t* group, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                        int64_t out_stride, __mmask16 rows) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m6 = _mm512_set1_epi8(0x3f), top2 = _mm512_set1_epi8(0x30),
                  byte = _mm512_set1_epi32(0xff);
    __m512 acc[NT];
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = group + size_t(b) * kPackedK4Bytes;
        const BlockQ8_K* xb[NT];
        const int16_t* sums[NT];
        #pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride) + b;
            sums[t] = reinterpret_cast<const int16_t*>(x + size_t(t) * x_stride + size_t(nb) * sizeof(BlockQ8_K)) + 8 * b;
        }
        const __m512i A = _mm512_loadu_si512(wb + kPackedK4Scales), B = _mm512_loadu_si512(wb + kPackedK4Scales + 64),
                      C = _mm512_loadu_si512(wb + kPackedK4Scales + 128);
        // Bytes j of: scales 0..3, scales 4..7, mins 0..3, mins 4..7 (see repack_q45_k).
        const __m512i sc[2] = {_mm512_and_si512(A, m6),
                               _mm512_or_si512(_mm512_and_si512(C, m4), _mm512_and_si512(_mm512_srli_epi32(A, 2), top2))};
        const __m512i mn[2] = {_mm512_and_si512(B, m6), _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(C, 4), m4),
                                                                         _mm512_and_si512(_mm512_srli_epi32(B, 2), top2))};
        __m512i isum[NT];
        #pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) isum[t] = _mm512_setzero_si512();
        for (int c = 0; c < 4; ++c) {
            #pragma GCC unroll 16
            for (int i = 0; i < 9; ++i)  // this chunk's share of the super-block 1 KiB ahead
                _mm_prefetch(reinterpret_cast<const char*>(wb + kPrefetchAhead + 64 * (9 * c + i)), _MM_HINT_T0);
            __m512i s_lo[NT], s_hi[NT];
            #pragma GCC unroll 16
            for (int t = 0; t < NT; ++t) s_lo[t] = s_hi[t] = _mm512_setzero_si512();
#pragma GCC unroll 8
            for (int g = 0; g < 8; ++g) {
                const __m512i w = _mm512_loadu_si512(wb + kPackedK4Levels + 64 * (8 * c + g));
                const __m512i lo = _mm512_and_si512(w, m4), hi = _mm512_and_si512(_mm512_srli_epi32(w, 4), m4);
#pragma GCC unroll 16
                for (int t = 0; t < NT; ++t) {
                    s_lo[t] = dpbusd_bcast(s_lo[t], lo, xb[t]->qs + 64 * c + 4 * g);
                    s_hi[t] = dpbusd_bcast(s_hi[t], hi, xb[t]->qs + 64 * c + 32 + 4 * g);
                }
            }
            const __m512i sc_lo = _mm512_and_si512(_mm512_srli_epi32(sc[c / 2], 8 * (2 * c % 4)), byte);
            const __m512i sc_hi = _mm512_and_si512(_mm512_srli_epi32(sc[c / 2], 8 * (2 * c % 4 + 1)), byte);
            #pragma GCC unroll 16
            for (int t = 0; t < NT; ++t)
                isum[t] = _mm512_add_epi32(isum[t], _mm512_add_epi32(_mm512_mullo_epi32(s_lo[t], sc_lo),
                                                                     _mm512_mullo_epi32(s_hi[t], sc_hi)));
        }
        // (min 2k, min 2k + 1) as 16-bit pairs, against the matching pair of sums.
        __m512i pairs[4];
        for (int h = 0; h < 2; ++h) {
            pairs[2 * h] = _mm512_or_si512(_mm512_and_si512(mn[h], byte),
                                           _mm512_slli_epi32(_mm512_and_si512(_mm512_srli_epi32(mn[h], 8), byte), 16));
            pairs[2 * h + 1] = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(mn[h], 16), byte),
                                               _mm512_slli_epi32(_mm512_srli_epi32(mn[h], 24), 16));
        }
        const __m512 d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb)));
        const __m512 dmin = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(wb + 32)));
#pragma GCC unroll 16
        for (int t = 0; t < NT; ++t) {
            __m512i mins = _mm512_setzero_si512();
            for (int k = 0; k < 4; ++k) mins = _mm512_dpwssd_epi32(mins, pairs[k], broadcast_i32(sums[t] + 2 * k));
            const __m512 dx = _mm512_set1_ps(xb[t]->d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum[t]), _mm512_mul_ps(d, dx), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(mins), _mm512_mul_ps(dmin, dx), acc[t]);
        }
    }
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) _mm512_mask_storeu_ps(out + t * out_stride, rows, acc[t]);
}

// ---- driver -------------------------------------------------------------------------

using RepackFn = void (*)(Rows rows, int64_t nb, uint8_t* tile);
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

template <int NT>
struct PackedQ4_0 {
    static constexpr KernelFn fn = kernel_packed_legacy<4, NT>;
};
template <int NT>
struct PackedQ8_0 {
    static constexpr KernelFn fn = kernel_packed_legacy<8, NT>;
};
template <int NT>
struct PackedQ4K {
    static constexpr KernelFn fn = kernel_packed_q4_k<NT>;
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

// Rows in tiles of 16 (repacked once), tokens in groups of up to MaxT per kernel call.
template <RepackFn Repack, template <int> class K, int BlockElems, size_t BlockBytes, int MaxT>
void gemm(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x, size_t x_stride,
          float* out, int64_t out_stride) {
    const int64_t nb = n / BlockElems;
    uint8_t* tile = tile_buffer(size_t(nb) * BlockBytes);
    const auto* wp = static_cast<const uint8_t*>(w);
    thread_local std::vector<uint8_t> zero_row;
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
        const int rows = int(std::min<int64_t>(kRows, n_rows - r0));
        const uint8_t* row_ptr[kRows];
        for (int r = 0; r < kRows; ++r) {
            if (r < rows) {
                row_ptr[r] = wp + size_t(r0 + r) * w_stride;
            } else {
                zero_row.resize(w_stride);
                row_ptr[r] = zero_row.data();
            }
        }
        Repack(row_ptr, nb, tile);
        tile_times_tokens<K, MaxT>(tile, nb, n_tokens, static_cast<const uint8_t*>(x), x_stride, out + r0, out_stride, rows);
    }
}

// Packed Q4_K for prompts: each super-block of a group expanded to the gemm's tile
// (levels one per byte, scales unpacked), then the gemm kernel, as for the file's rows.
void unpack_q4_k(const uint8_t* group, int64_t nb, uint8_t* tile) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), m6 = _mm512_set1_epi8(0x3f), top2 = _mm512_set1_epi8(0x30),
                  byte = _mm512_set1_epi32(0xff);
    for (int64_t b = 0; b < nb; ++b, group += kPackedK4Bytes, tile += kK4BlockBytes) {
        for (int k = 0; k < 32; ++k) {
            const __m512i w = _mm512_loadu_si512(group + kPackedK4Levels + 64 * k);
            store(tile + 512 * (2 * (k / 8)) + 64 * (k % 8), _mm512_and_si512(w, m4));
            store(tile + 512 * (2 * (k / 8) + 1) + 64 * (k % 8), _mm512_and_si512(_mm512_srli_epi32(w, 4), m4));
        }
        const __m512i A = _mm512_loadu_si512(group + kPackedK4Scales), B = _mm512_loadu_si512(group + kPackedK4Scales + 64),
                      C = _mm512_loadu_si512(group + kPackedK4Scales + 128);
        const __m512i words[4] = {
            _mm512_and_si512(A, m6),
            _mm512_or_si512(_mm512_and_si512(C, m4), _mm512_and_si512(_mm512_srli_epi32(A, 2), top2)),
            _mm512_and_si512(B, m6),
            _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(C, 4), m4), _mm512_and_si512(_mm512_srli_epi32(B, 2), top2)),
        };
        for (int j = 0; j < 8; ++j) {
            const __m512i sc = _mm512_and_si512(_mm512_srli_epi32(words[j / 4], 8 * (j % 4)), byte);
            const __m512i m = _mm512_and_si512(_mm512_srli_epi32(words[2 + j / 4], 8 * (j % 4)), byte);
            store(tile + kK4Scales + 64 * j, sc);
            store(tile + kK4Mins + 64 * j, _mm512_or_si512(m, _mm512_slli_epi32(m, 16)));
        }
        _mm512_store_ps(tile + kK4D, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group))));
        _mm512_store_ps(tile + kK4DMin, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32))));
    }
}

void gemm_packed_q4_k(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                      size_t x_stride, float* out, int64_t out_stride) {
    const auto* wp = static_cast<const uint8_t*>(w);
    const auto* xp = static_cast<const uint8_t*>(x);
    const int64_t nb = n / kQK_K;
    uint8_t* tile = n_tokens > 2 ? tile_buffer(size_t(nb) * kK4BlockBytes) : nullptr;
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
        const int rows = int(std::min<int64_t>(kRows, n_rows - r0));
        if (!tile) {
            tile_times_tokens<PackedQ4K, 2>(wp + size_t(r0) * w_stride, nb, n_tokens, xp, x_stride, out + r0, out_stride, rows);
            continue;
        }
        unpack_q4_k(wp + size_t(r0) * w_stride, nb, tile);
        tile_times_tokens<K45, kMaxTokens>(tile, nb, n_tokens, xp, x_stride, out + r0, out_stride, rows);
    }
}

// Weights packed at load: a group of 16 rows is already a tile, w_stride * 16 bytes long.
template <template <int> class K, int BlockElems, int MaxT>
void gemm_packed(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                 size_t x_stride, float* out, int64_t out_stride) {
    const auto* wp = static_cast<const uint8_t*>(w);
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows)
        tile_times_tokens<K, MaxT>(wp + size_t(r0) * w_stride, n / BlockElems, n_tokens, static_cast<const uint8_t*>(x), x_stride,
                                   out + r0, out_stride, int(std::min<int64_t>(kRows, n_rows - r0)));
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
    legacy(DType::Q4_0, gemm<repack_q4_0, Legacy, 32, kLegacyBlockBytes, kMaxTokens>, prepare_q8_0<8>);
    legacy(DType::Q5_0, gemm<repack_q5_0, Legacy, 32, kLegacyBlockBytes, kMaxTokens>, prepare_q8_0<16>);
    legacy(DType::Q8_0, gemm<repack_q8_0, Legacy, 32, kLegacyBlockBytes, kMaxTokens>, prepare_q8_0<128>);
    auto packed = [&](DType type, PackFn pack, GemmFn fn, GemmPrepareFn prepare, size_t prepared_bytes) {
        PackedKernel& k = t.packed[int(type)];
        k.group_rows = kRows;
        k.pack = pack;
        k.kernel = GemmKernel{fn, prepare, uint32_t(prepared_bytes), kRows, 1};
    };
    packed(DType::Q4_0, pack_legacy<BlockQ4_0, 4>, gemm_packed<PackedQ4_0, 32, kMaxTokens>, prepare_q8_0<8>,
           sizeof(PreparedQ8_0));
    packed(DType::Q8_0, pack_legacy<BlockQ8_0, 8>, gemm_packed<PackedQ8_0, 32, kMaxTokens>, prepare_q8_0<128>,
           sizeof(PreparedQ8_0));
    packed(DType::Q4_K, pack_q4_k, gemm_packed_q4_k, prepare_q8_k_pairs, kQ8KPairsBlockBytes);
    auto kquant = [&](DType type, GemmFn fn) {
        GemmKernel& k = t.gemm[int(type)];
        k.gemm = fn;
        k.row_tile = kRows;
    };
    kquant(DType::Q4_K, gemm<repack_q45_k<false>, K45, kQK_K, kK4BlockBytes, kMaxTokens>);
    kquant(DType::Q5_K, gemm<repack_q45_k<true>, K45, kQK_K, kK4BlockBytes, kMaxTokens>);
    kquant(DType::Q6_K, gemm<repack_q6_k, K6, kQK_K, kK6BlockBytes, kMaxTokens>);
}

}  // namespace dsm::kernels::avx512
