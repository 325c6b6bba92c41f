// AVX2 tiles of 8 weight rows x up to 4 tokens for prompts (no VNNI).
//
// As in gemm_avx512.cpp, a tile's rows are repacked once per call so that one
// register holds the same 4 consecutive levels of 8 rows (lane r = row r), and 4
// activation bytes broadcast to all lanes multiply it. vpmaddubsw (unsigned levels x
// signed bytes -> 16-bit pair sums) accumulates in 16 bits as long as the format's
// levels allow it without overflow (Q4_0 / Q4_K: a whole 32-element block, Q6_K:
// 8 elements), then vpmaddwd widens (by 1, or by the sub-block scale) to 32 bits.
// Q8_0 has signed 8-bit levels: its tiles hold 16-bit levels and the prepared tokens
// 16-bit activations, multiplied with vpmaddwd. Every integer sum is exact.
//
// Q4_0, Q8_0, Q4_K and Q6_K are also packed at load (KernelTable::packed) into groups of 8
// rows in the same lane = row arrangement, as compact as the file (layouts.hpp):
// decode reads the groups directly (Q4_0's and Q8_0's kernel is in groups_avx2.hpp,
// shared with the AVX-VNNI table), prompts expand Q4_0, Q4_K and Q6_K groups into the
// tiles here (Q8_0's prompts keep the packed kernel).
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

#include "core/fp16.hpp"
#include "kernels/x86/avx2.hpp"
#include "kernels/x86/groups_avx2.hpp"
#include "kernels/x86/layouts.hpp"
#include "quant/blocks.hpp"

namespace dsm::kernels::avx2 {
namespace {

using namespace x86::groups;

constexpr int kMaxTokens = 4;

using Rows = const uint8_t* const*;

uint8_t* tile_buffer(size_t bytes) {
    struct alignas(64) Line {
        uint8_t b[64];
    };
    thread_local std::vector<Line> buf;
    if (buf.size() * 64 < bytes) buf.resize((bytes + 63) / 64);
    return buf.data()->b;
}

// Lane r of out[k] = the 32-bit word k of the 16 bytes at rows[r] + offset.
inline void transpose8x4(Rows rows, size_t offset, __m256i out[4]) {
    auto row = [&](int r) { return _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[r] + offset)); };
    __m256i y[4];
    for (int q = 0; q < 4; ++q) y[q] = _mm256_set_m128i(row(q + 4), row(q));
    // Per 128-bit half: a 4 x 4 transpose of 32-bit words (rows q / q + 4).
    const __m256i t0 = _mm256_unpacklo_epi32(y[0], y[1]), t1 = _mm256_unpacklo_epi32(y[2], y[3]);
    const __m256i t2 = _mm256_unpackhi_epi32(y[0], y[1]), t3 = _mm256_unpackhi_epi32(y[2], y[3]);
    out[0] = _mm256_unpacklo_epi64(t0, t1);
    out[1] = _mm256_unpackhi_epi64(t0, t1);
    out[2] = _mm256_unpacklo_epi64(t2, t3);
    out[3] = _mm256_unpackhi_epi64(t2, t3);
}

inline __m256 gather_fp16(Rows rows, size_t offset) {
    alignas(16) uint16_t h[kRows];
    for (int r = 0; r < kRows; ++r) std::memcpy(&h[r], rows[r] + offset, 2);
    return _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(h)));
}

inline void store(uint8_t* p, __m256i v) { _mm256_store_si256(reinterpret_cast<__m256i*>(p), v); }

// ---- Q4_0: tile block = levels [8 groups][8 rows][4] (0..15), float d[8]; tokens
// prepared with the start value -8 * sum(x) (x86::prepare_q8_0<8>).
constexpr size_t kQ4Bytes = 256 + 32;

void repack_q4_0(Rows rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kQ4Bytes) {
        const size_t at = size_t(b) * sizeof(BlockQ4_0);
        __m256i q[4];
        transpose8x4(rows, at + 2, q);
        for (int g = 0; g < 4; ++g) {
            store(tile + 32 * g, low_nibbles(q[g]));
            store(tile + 32 * (g + 4), high_nibbles(q[g]));
        }
        _mm256_store_ps(reinterpret_cast<float*>(tile + 256), gather_fp16(rows, at));
    }
}

template <int NT>
void q4_0_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                 int rows) {
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, tile += kQ4Bytes) {
        const x86::PreparedQ8_0* xb[NT];
        __m256i p[NT];
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const x86::PreparedQ8_0*>(x + size_t(t) * x_stride) + b;
            p[t] = _mm256_setzero_si256();
        }
        for (int g = 0; g < 8; ++g) {  // 16-bit sums stay below 8 * 2 * 15 * 128
            const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + 32 * g));
            for (int t = 0; t < NT; ++t)
                p[t] = _mm256_add_epi16(p[t], _mm256_maddubs_epi16(w, broadcast_i32(xb[t]->qs + 4 * g)));
        }
        const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(tile + 256));
        for (int t = 0; t < NT; ++t) {
            const __m256i sum = _mm256_add_epi32(_mm256_madd_epi16(p[t], _mm256_set1_epi16(1)), _mm256_set1_epi32(xb[t]->start));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), _mm256_mul_ps(dw, _mm256_set1_ps(xb[t]->d)), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// Q4_0 packed at load (groups_avx2.hpp, pack_legacy_rows<8, ...>) expanded into the
// tile above for prompts: repack_q4_0's output without the transposes.
void expand_q4_0(const uint8_t* group, int64_t nb, uint8_t* tile) {
    using Layout = x86::PackedLegacyLayout<kRows, 4>;
    for (int64_t b = 0; b < nb; ++b, group += Layout::kBytes, tile += kQ4Bytes) {
        for (int g = 0; g < 4; ++g) {
            const __m256i w = load32(group + Layout::kLevels + Layout::kWord * g);
            store(tile + 32 * g, low_nibbles(w));
            store(tile + 32 * (g + 4), high_nibbles(w));
        }
        _mm256_store_ps(reinterpret_cast<float*>(tile + 256), _mm256_cvtph_ps(load16(group)));
    }
}

// ---- Q8_0: tile block = 16-bit level pairs [16 pairs][8 rows][2], float d[8]; tokens
// prepared as 16-bit values.
struct PreparedQ8 {
    float d;
    int16_t qs[32];
};
constexpr size_t kQ8Bytes = 512 + 32;

void prepare_q8_0(int64_t n, const void* x, void* prepared) {
    const auto* b = static_cast<const BlockQ8_0*>(x);
    auto* p = static_cast<PreparedQ8*>(prepared);
    for (int64_t i = 0; i < n / 32; ++i) {
        p[i].d = fp16_to_f32(b[i].d);
        for (int j = 0; j < 32; ++j) p[i].qs[j] = b[i].qs[j];
    }
}

// Signed bytes 2k, 2k + 1 of every 32-bit lane as a pair of 16-bit values.
inline __m256i byte_pair(__m256i v, int k) {
    const __m256i lo = _mm256_srai_epi32(_mm256_slli_epi32(v, 24 - 16 * k), 24);
    const __m256i hi = _mm256_srai_epi32(_mm256_slli_epi32(v, 16 - 16 * k), 24);
    return _mm256_or_si256(_mm256_and_si256(lo, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(hi, 16));
}

void repack_q8_0(Rows rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kQ8Bytes) {
        const size_t at = size_t(b) * sizeof(BlockQ8_0);
        __m256i q[8];
        transpose8x4(rows, at + 2, q);
        transpose8x4(rows, at + 18, q + 4);
        for (int g = 0; g < 8; ++g) {  // levels 4g .. 4g + 3 -> pairs 2g, 2g + 1
            store(tile + 64 * g, byte_pair(q[g], 0));
            store(tile + 64 * g + 32, byte_pair(q[g], 1));
        }
        _mm256_store_ps(reinterpret_cast<float*>(tile + 512), gather_fp16(rows, at));
    }
}

template <int NT>
void q8_0_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                 int rows) {
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, tile += kQ8Bytes) {
        const PreparedQ8* xb[NT];
        __m256i sum[NT];
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const PreparedQ8*>(x + size_t(t) * x_stride) + b;
            sum[t] = _mm256_setzero_si256();
        }
        for (int k = 0; k < 16; ++k) {
            const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + 32 * k));
            for (int t = 0; t < NT; ++t)
                sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(w, broadcast_i32(xb[t]->qs + 2 * k)));
        }
        const __m256 dw = _mm256_load_ps(reinterpret_cast<const float*>(tile + 512));
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), _mm256_mul_ps(dw, _mm256_set1_ps(xb[t]->d)), acc[t]);
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// ---- Q4_K: tile super-block = levels [8 sub-blocks][8 groups][8 rows][4] (0..15),
// (scale, scale) and (min, min) 16-bit pairs [8][8], float d[8], dmin[8].
constexpr size_t kK4Scales = 2048, kK4Mins = kK4Scales + 256, kK4D = kK4Mins + 256, kK4DMin = kK4D + 32,
                 kK4Bytes = kK4DMin + 32;

inline void store_k4_scales(const __m256i words[4], uint8_t* tile) {
    for (int j = 0; j < 8; ++j) {
        store(tile + kK4Scales + 32 * j, k4_pair(words, j));
        store(tile + kK4Mins + 32 * j, k4_pair(words, j, 2));
    }
}

void repack_q4_k(Rows rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kK4Bytes) {
        const size_t at = size_t(b) * sizeof(BlockQ4_K);
        __m256i head[4];  // word 0: d | dmin << 16; words 1..3: the packed scales A, B, C
        transpose8x4(rows, at, head);
        for (int c = 0; c < 4; ++c) {
            __m256i q[8];
            transpose8x4(rows, at + 16 + 32 * c, q);
            transpose8x4(rows, at + 16 + 32 * c + 16, q + 4);
            for (int g = 0; g < 8; ++g) {
                store(tile + 256 * (2 * c) + 32 * g, low_nibbles(q[g]));
                store(tile + 256 * (2 * c + 1) + 32 * g, high_nibbles(q[g]));
            }
        }
        __m256i words[4];
        k4_scale_words(head[1], head[2], head[3], words);
        store_k4_scales(words, tile);
        const __m256i lo16 = _mm256_and_si256(head[0], _mm256_set1_epi32(0xffff));
        const __m256i hi16 = _mm256_srli_epi32(head[0], 16);
        auto halves = [](__m256i v) {  // 8 values below 2^16 in 32-bit lanes -> 8 fp16 -> floats
            return _mm256_cvtph_ps(_mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)));
        };
        _mm256_store_ps(reinterpret_cast<float*>(tile + kK4D), halves(lo16));
        _mm256_store_ps(reinterpret_cast<float*>(tile + kK4DMin), halves(hi16));
    }
}

template <int NT>
void q4_k_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                 int rows) {
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, tile += kK4Bytes) {
        const BlockQ8_K* xb[NT];
        __m256i isum[NT];
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride) + b;
            isum[t] = _mm256_setzero_si256();
        }
        for (int j = 0; j < 8; ++j) {
            __m256i p[NT];
            for (int t = 0; t < NT; ++t) p[t] = _mm256_setzero_si256();
            for (int g = 0; g < 8; ++g) {  // 16-bit sums stay below 8 * 2 * 15 * 128
                const __m256i w = _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + 256 * j + 32 * g));
                for (int t = 0; t < NT; ++t)
                    p[t] = _mm256_add_epi16(p[t], _mm256_maddubs_epi16(w, broadcast_i32(xb[t]->qs + 32 * j + 4 * g)));
            }
            const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + kK4Scales + 32 * j));
            for (int t = 0; t < NT; ++t) isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p[t], sc));
        }
        const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(tile + kK4D));
        const __m256 dmin = _mm256_load_ps(reinterpret_cast<const float*>(tile + kK4DMin));
        for (int t = 0; t < NT; ++t) {
            __m256i mins = _mm256_setzero_si256();
            for (int j = 0; j < 8; ++j)
                mins = _mm256_add_epi32(mins, _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(tile + kK4Mins + 32 * j)),
                                                                broadcast_i32(xb[t]->bsums + 2 * j)));
            const __m256 dx = _mm256_set1_ps(xb[t]->d);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_mul_ps(dmin, dx), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// ---- Q6_K: tile super-block = levels [16 sub-blocks][4 groups][8 rows][4] (stored +32:
// 0..63), (scale, scale) pairs [16][8], (scale_2i, scale_2i+1) pairs [8][8], float d[8].
constexpr size_t kK6Scales = 2048, kK6Pairs = kK6Scales + 512, kK6D = kK6Pairs + 256, kK6Bytes = kK6D + 32;

// (scale i, scale j) as 16-bit values in every lane, from the words of int8 scales.
inline __m256i q6_scale_pair(const __m256i sc[4], int i, int j) {
    auto scale = [&](int s) { return _mm256_srai_epi32(_mm256_slli_epi32(sc[s / 4], 24 - 8 * (s % 4)), 24); };
    return _mm256_or_si256(_mm256_and_si256(scale(i), _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(scale(j), 16));
}

// One super-block's tile from its words with lane r = row r: ql[32], qh[16], the int8
// scales sc[4] and the 8 fp16 d in the low halves of d16.
// Element 128h + 32k + l: nibble k/2 of ql[64h + 32(k%2) + l], bits 2k of qh[32h + l].
void q6_k_tile(const __m256i ql[32], const __m256i qh[16], const __m256i sc[4], __m128i d16, uint8_t* tile) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    for (int h = 0; h < 2; ++h)
        for (int k = 0; k < 4; ++k)
            for (int half = 0; half < 2; ++half)
                for (int g = 0; g < 4; ++g) {
                    const int l = 16 * half + 4 * g;
                    const __m256i lo = _mm256_and_si256(_mm256_srli_epi32(ql[(64 * h + 32 * (k % 2) + l) / 4], 4 * (k / 2)), m4);
                    const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(qh[(32 * h + l) / 4], 2 * k), m2);
                    store(tile + 128 * (8 * h + 2 * k + half) + 32 * g, _mm256_or_si256(lo, _mm256_slli_epi32(hi, 4)));
                }
    for (int j = 0; j < 16; ++j) store(tile + kK6Scales + 32 * j, q6_scale_pair(sc, j, j));
    for (int i = 0; i < 8; ++i) store(tile + kK6Pairs + 32 * i, q6_scale_pair(sc, 2 * i, 2 * i + 1));
    _mm256_store_ps(reinterpret_cast<float*>(tile + kK6D), _mm256_cvtph_ps(d16));
}

void repack_q6_k(Rows rows, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, tile += kK6Bytes) {
        const size_t at = size_t(b) * sizeof(BlockQ6_K);
        __m256i ql[32], qh[16], sc[4];
        for (int k = 0; k < 8; ++k) transpose8x4(rows, at + 16 * k, ql + 4 * k);
        for (int k = 0; k < 4; ++k) transpose8x4(rows, at + offsetof(BlockQ6_K, qh) + 16 * k, qh + 4 * k);
        transpose8x4(rows, at + offsetof(BlockQ6_K, scales), sc);
        alignas(16) uint16_t d[kRows];
        for (int r = 0; r < kRows; ++r) std::memcpy(&d[r], rows[r] + at + offsetof(BlockQ6_K, d), 2);
        q6_k_tile(ql, qh, sc, _mm_load_si128(reinterpret_cast<const __m128i*>(d)), tile);
    }
}

template <int NT>
void q6_k_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                 int rows) {
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b, tile += kK6Bytes) {
        const BlockQ8_K* xb[NT];
        __m256i isum[NT];
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride) + b;
            isum[t] = _mm256_setzero_si256();
        }
        for (int j = 0; j < 16; ++j) {
            const __m256i sc = _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + kK6Scales + 32 * j));
            for (int half = 0; half < 2; ++half) {  // a 16-bit lane sums 4 products: below 4 * 63 * 128
                const __m256i w0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + 128 * j + 64 * half));
                const __m256i w1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(tile + 128 * j + 64 * half + 32));
                for (int t = 0; t < NT; ++t) {
                    const int8_t* xq = xb[t]->qs + 16 * j + 8 * half;
                    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w0, broadcast_i32(xq)),
                                                       _mm256_maddubs_epi16(w1, broadcast_i32(xq + 4)));
                    isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, sc));
                }
            }
        }
        const __m256 d = _mm256_load_ps(reinterpret_cast<const float*>(tile + kK6D));
        for (int t = 0; t < NT; ++t) {
            __m256i bias = _mm256_setzero_si256();
            for (int i = 0; i < 8; ++i)
                bias = _mm256_add_epi32(bias, _mm256_madd_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(tile + kK6Pairs + 32 * i)),
                                                                broadcast_i32(xb[t]->bsums + 2 * i)));
            const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(bias, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(xb[t]->d)), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// ---- Q4_K packed at load (KernelTable::packed) in groups of 8 rows (layouts.hpp).
// Decode reads the groups directly (one pass over memory, prefetched ahead); prompts
// expand each group into the tile above.
// A packed group expanded into the prompt tile (repack_q4_k's output).
void expand_q4_k(const uint8_t* group, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, group += kPackedK4Bytes, tile += kK4Bytes) {
        for (int k = 0; k < 32; ++k) {
            const __m256i w = load32(group + kPackedK4Levels + 32 * k);
            store(tile + 256 * (2 * (k / 8)) + 32 * (k % 8), low_nibbles(w));
            store(tile + 256 * (2 * (k / 8) + 1) + 32 * (k % 8), high_nibbles(w));
        }
        __m256i words[4];
        packed_k4_scale_words(group, words);
        store_k4_scales(words, tile);
        _mm256_store_ps(reinterpret_cast<float*>(tile + kK4D), _mm256_cvtph_ps(load16(group)));
        _mm256_store_ps(reinterpret_cast<float*>(tile + kK4DMin), _mm256_cvtph_ps(load16(group + PackedK4::kDMin)));
    }
}

// Decode: 1 or 2 tokens against a packed group, the scales unpacked in registers once
// per super-block. The float steps are q4_k_kernel's.
template <int NT>
void packed_q4_k_kernel(const uint8_t* group, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                        int64_t out_stride, int rows) {
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* sb = group + size_t(b) * kPackedK4Bytes;
        const BlockQ8_K* xb[NT];
        __m256i isum[NT];
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride) + b;
            isum[t] = _mm256_setzero_si256();
        }
        __m256i words[4];
        packed_k4_scale_words(sb, words);
        for (int c = 0; c < 4; ++c) {
            for (int i = 0; i < 5; ++i)  // this chunk's share of the super-block 2 KiB ahead
                _mm_prefetch(reinterpret_cast<const char*>(sb + kPrefetchAhead + 64 * (5 * c + i)), _MM_HINT_T0);
            __m256i lo[NT], hi[NT];
            for (int t = 0; t < NT; ++t) lo[t] = hi[t] = _mm256_setzero_si256();
            for (int g = 0; g < 8; ++g) {  // 16-bit sums stay below 8 * 2 * 15 * 128
                const __m256i w = load32(sb + kPackedK4Levels + 32 * (8 * c + g));
                const __m256i wl = low_nibbles(w), wh = high_nibbles(w);
                for (int t = 0; t < NT; ++t) {
                    lo[t] = _mm256_add_epi16(lo[t], _mm256_maddubs_epi16(wl, broadcast_i32(xb[t]->qs + 64 * c + 4 * g)));
                    hi[t] = _mm256_add_epi16(hi[t], _mm256_maddubs_epi16(wh, broadcast_i32(xb[t]->qs + 64 * c + 32 + 4 * g)));
                }
            }
            const __m256i sc_lo = k4_pair(words, 2 * c), sc_hi = k4_pair(words, 2 * c + 1);
            for (int t = 0; t < NT; ++t)
                isum[t] = _mm256_add_epi32(isum[t], _mm256_add_epi32(_mm256_madd_epi16(lo[t], sc_lo), _mm256_madd_epi16(hi[t], sc_hi)));
        }
        const __m256 d = _mm256_cvtph_ps(load16(sb)), dmin = _mm256_cvtph_ps(load16(sb + PackedK4::kDMin));
        for (int t = 0; t < NT; ++t) {
            __m256i mins = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int j = 0; j < 8; ++j)
                mins = _mm256_add_epi32(mins, _mm256_madd_epi16(k4_pair(words, j, 2), broadcast_i32(xb[t]->bsums + 2 * j)));
            const __m256 dx = _mm256_set1_ps(xb[t]->d);
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum[t]), _mm256_mul_ps(d, dx), acc[t]);
            acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_mul_ps(dmin, dx), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// ---- Q6_K packed at load in groups of 8 rows (layouts.hpp). Decode reads the groups
// directly; prompts expand each group into the tile above. The integer sums and float
// steps are q6_k_kernel's.
using PackedK6 = x86::PackedQ6KLayout<kRows>;

void expand_q6_k(const uint8_t* group, int64_t nb, uint8_t* tile) {
    for (int64_t b = 0; b < nb; ++b, group += PackedK6::kBytes, tile += kK6Bytes) {
        __m256i ql[32], qh[16], sc[4];
        for (int k = 0; k < 32; ++k) ql[k] = load32(group + PackedK6::kQl + 32 * k);
        for (int k = 0; k < 16; ++k) qh[k] = load32(group + PackedK6::kQh + 32 * k);
        for (int k = 0; k < 4; ++k) sc[k] = load32(group + PackedK6::kScales + 32 * k);
        q6_k_tile(ql, qh, sc, load16(group), tile);
    }
}

template <int NT>
void packed_q6_k_kernel(const uint8_t* group, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                        int64_t out_stride, int rows) {
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(3);
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* sb = group + size_t(b) * PackedK6::kBytes;
        const BlockQ8_K* xb[NT];
        __m256i isum[NT];
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride) + b;
            isum[t] = _mm256_setzero_si256();
        }
        __m256i sc[4];
        for (int k = 0; k < 4; ++k) sc[k] = load32(sb + PackedK6::kScales + 32 * k);
#pragma GCC unroll 2
        for (int h = 0; h < 2; ++h) {
            for (int i = 0; i < 14; ++i)  // this half's share of the super-block 2 KiB ahead
                _mm_prefetch(reinterpret_cast<const char*>(sb + kPrefetchAhead + 64 * (14 * h + i)), _MM_HINT_T0);
#pragma GCC unroll 4
            for (int k = 0; k < 4; ++k)
#pragma GCC unroll 2
                for (int half = 0; half < 2; ++half) {
                    const __m256i scale = q6_scale_pair(sc, 8 * h + 2 * k + half, 8 * h + 2 * k + half);
#pragma GCC unroll 2
                    for (int g = 0; g < 4; g += 2) {  // a 16-bit lane sums 4 products: below 4 * 63 * 128
                        __m256i w[2];
#pragma GCC unroll 2
                        for (int u = 0; u < 2; ++u) {
                            const int l = 16 * half + 4 * (g + u);
                            const __m256i lo = _mm256_and_si256(
                                _mm256_srli_epi32(load32(sb + PackedK6::kQl + 32 * ((64 * h + 32 * (k % 2) + l) / 4)), 4 * (k / 2)), m4);
                            const __m256i hi =
                                _mm256_and_si256(_mm256_srli_epi32(load32(sb + PackedK6::kQh + 32 * ((32 * h + l) / 4)), 2 * k), m2);
                            w[u] = _mm256_or_si256(lo, _mm256_slli_epi32(hi, 4));
                        }
                        for (int t = 0; t < NT; ++t) {
                            const int8_t* xq = xb[t]->qs + 128 * h + 32 * k + 16 * half + 4 * g;
                            const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(w[0], broadcast_i32(xq)),
                                                               _mm256_maddubs_epi16(w[1], broadcast_i32(xq + 4)));
                            isum[t] = _mm256_add_epi32(isum[t], _mm256_madd_epi16(p, scale));
                        }
                    }
                }
        }
        const __m256 d = _mm256_cvtph_ps(load16(sb));
        for (int t = 0; t < NT; ++t) {
            __m256i bias = _mm256_setzero_si256();
#pragma GCC unroll 8
            for (int i = 0; i < 8; ++i)
                bias = _mm256_add_epi32(bias, _mm256_madd_epi16(q6_scale_pair(sc, 2 * i, 2 * i + 1), broadcast_i32(xb[t]->bsums + 2 * i)));
            const __m256i total = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(bias, 5));
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(total), _mm256_mul_ps(d, _mm256_set1_ps(xb[t]->d)), acc[t]);
        }
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// The packed kernels for any number of tokens: groups are w_stride * 8 bytes apart;
// 1 or 2 tokens read them directly, more expand each group into the tile.
using KernelFn = void (*)(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                          int64_t out_stride, int rows);

// One tile against the tokens, in kernel calls of up to 4 (K1..K4: 1..4 tokens).
template <KernelFn K1, KernelFn K2, KernelFn K3, KernelFn K4>
void tile_times_tokens(const uint8_t* tile, int64_t nb, int64_t n_tokens, const uint8_t* x, size_t x_stride, float* out,
                       int64_t out_stride, int rows) {
    for (int64_t t0 = 0; t0 < n_tokens; t0 += kMaxTokens) {
        const int nt = int(std::min<int64_t>(kMaxTokens, n_tokens - t0));
        const KernelFn k = nt == 4 ? K4 : nt == 3 ? K3 : nt == 2 ? K2 : K1;
        k(tile, nb, x + size_t(t0) * x_stride, x_stride, out + t0 * out_stride, out_stride, rows);
    }
}

template <void (*Expand)(const uint8_t*, int64_t, uint8_t*), int BlockElems, size_t TileBytes, KernelFn D1, KernelFn D2,
          KernelFn K1, KernelFn K2, KernelFn K3, KernelFn K4>
void gemm_packed(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                 size_t x_stride, float* out, int64_t out_stride) {
    const int64_t nb = n / BlockElems;
    const auto* wp = static_cast<const uint8_t*>(w);
    const auto* xp = static_cast<const uint8_t*>(x);
    uint8_t* tile = n_tokens > 2 ? tile_buffer(size_t(nb) * TileBytes) : nullptr;
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
        const int rows = int(std::min<int64_t>(kRows, n_rows - r0));
        const uint8_t* group = wp + size_t(r0) * w_stride;
        if (!tile) {
            (n_tokens == 2 ? D2 : D1)(group, nb, xp, x_stride, out + r0, out_stride, rows);
            continue;
        }
        Expand(group, nb, tile);
        tile_times_tokens<K1, K2, K3, K4>(tile, nb, n_tokens, xp, x_stride, out + r0, out_stride, rows);
    }
}

// ---- driver

using RepackFn = void (*)(Rows rows, int64_t nb, uint8_t* tile);

// Rows in tiles of 8 (repacked once), tokens in groups of up to 4 per kernel call.
template <RepackFn Repack, KernelFn K1, KernelFn K2, KernelFn K3, KernelFn K4, int BlockElems, size_t BlockBytes>
void gemm(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x, size_t x_stride,
          float* out, int64_t out_stride) {
    const int64_t nb = n / BlockElems;
    uint8_t* tile = tile_buffer(size_t(nb) * BlockBytes);
    const auto* wp = static_cast<const uint8_t*>(w);
    const auto* xp = static_cast<const uint8_t*>(x);
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
        tile_times_tokens<K1, K2, K3, K4>(tile, nb, n_tokens, xp, x_stride, out + r0, out_stride, rows);
    }
}

}  // namespace

void set_gemm_kernels(KernelTable& t) {
    auto set = [&](DType type, GemmFn fn, GemmPrepareFn prepare, uint32_t prepared_bytes) {
        t.gemm[int(type)] = GemmKernel{fn, prepare, prepared_bytes, kRows, 2};
    };
    set(DType::Q4_0,
        gemm<repack_q4_0, q4_0_kernel<1>, q4_0_kernel<2>, q4_0_kernel<3>, q4_0_kernel<4>, 32, kQ4Bytes>, x86::prepare_q8_0<8>,
        sizeof(x86::PreparedQ8_0));
    set(DType::Q8_0,
        gemm<repack_q8_0, q8_0_kernel<1>, q8_0_kernel<2>, q8_0_kernel<3>, q8_0_kernel<4>, 32, kQ8Bytes>, prepare_q8_0,
        sizeof(PreparedQ8));
    set(DType::Q4_K,
        gemm<repack_q4_k, q4_k_kernel<1>, q4_k_kernel<2>, q4_k_kernel<3>, q4_k_kernel<4>, kQK_K, kK4Bytes>, nullptr, 0);
    set(DType::Q6_K,
        gemm<repack_q6_k, q6_k_kernel<1>, q6_k_kernel<2>, q6_k_kernel<3>, q6_k_kernel<4>, kQK_K, kK6Bytes>, nullptr, 0);
    set_packed_legacy<BlockQ4_0, 4, false>(t, DType::Q4_0);
    set_packed_legacy<BlockQ8_0, 8, false>(t, DType::Q8_0);
    // Q4_0 prompts: the expanded tile is the row path's, and its kernel takes the same
    // prepared tokens as the packed decode kernel. (Q8_0's row path wants 16-bit tokens.)
    t.packed[int(DType::Q4_0)].kernel.gemm =
        gemm_packed<expand_q4_0, 32, kQ4Bytes, kernel_packed_legacy<4, false, 1>, kernel_packed_legacy<4, false, 2>,
                    q4_0_kernel<1>, q4_0_kernel<2>, q4_0_kernel<3>, q4_0_kernel<4>>;
    auto packed = [&](DType type, PackFn pack, GemmFn fn) {
        t.packed[int(type)] = PackedKernel{kRows, pack, GemmKernel{fn, nullptr, 0, kRows, 1}};
    };
    packed(DType::Q4_K, x86::pack_q4_k_rows<kRows>,
           gemm_packed<expand_q4_k, kQK_K, kK4Bytes, packed_q4_k_kernel<1>, packed_q4_k_kernel<2>, q4_k_kernel<1>,
                       q4_k_kernel<2>, q4_k_kernel<3>, q4_k_kernel<4>>);
    packed(DType::Q6_K, x86::pack_q6_k_rows<kRows>,
           gemm_packed<expand_q6_k, kQK_K, kK6Bytes, packed_q6_k_kernel<1>, packed_q6_k_kernel<2>, q6_k_kernel<1>,
                       q6_k_kernel<2>, q6_k_kernel<3>, q6_k_kernel<4>>);
}

}  // namespace dsm::kernels::avx2
