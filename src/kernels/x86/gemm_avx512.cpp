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

#include "kernels/x86/gemm_tiles_avx512.hpp"
#include "quant/unpack.hpp"

namespace dsm::kernels::avx512 {
namespace {

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
        __m512i words[4];
        k4_scale_words(head[1], head[2], head[3], words);
        store_k4_scales(words, tile);
        _mm512_store_ps(tile + kK4D, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(head[0])));
        _mm512_store_ps(tile + kK4DMin, _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(head[0], 16))));
    }
}

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

using RepackFn = void (*)(Rows rows, int64_t nb, uint8_t* tile);

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
