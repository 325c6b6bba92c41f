// Internal: pieces shared by the AVX2 and AVX-VNNI tables (gemm_avx2.cpp,
// gemm_avxvnni.cpp), whose kernels work on groups of 8 weight rows with lane r of a
// 256-bit register = row r, and their kernels for Q4_0 / Q8_0 packed at load. Each file is compiled with its own instruction set and so
// gets its own copy (unnamed namespace).
#pragma once
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "kernels/kernels.hpp"
#include "kernels/x86/layouts.hpp"

namespace dsm::kernels::x86::groups {
namespace {

constexpr int kRows = 8;
constexpr size_t kPrefetchAhead = 2048;  // bytes ahead of the block in use that decode asks the cache for

// Q4_K packed at load in groups of 8 rows (layouts.hpp).
using PackedK4 = x86::PackedQ4KLayout<kRows>;
constexpr size_t kPackedK4Scales = PackedK4::kScales, kPackedK4Levels = PackedK4::kLevels,
                 kPackedK4Bytes = PackedK4::kBytes;

inline __m256i broadcast_i32(const void* p) {
    int32_t v;
    std::memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

inline __m256i load32(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }

inline __m256i low_nibbles(__m256i v) { return _mm256_and_si256(v, _mm256_set1_epi8(0x0f)); }
inline __m256i high_nibbles(__m256i v) { return _mm256_and_si256(_mm256_srli_epi32(v, 4), _mm256_set1_epi8(0x0f)); }

inline void store_rows(float* out, __m256 v, int rows) {
    if (rows == kRows) {
        _mm256_storeu_ps(out, v);
        return;
    }
    alignas(32) float tmp[kRows];
    _mm256_store_ps(tmp, v);
    for (int r = 0; r < rows; ++r) out[r] = tmp[r];
}

inline __m256i pair16(__m256i v) { return _mm256_or_si256(v, _mm256_slli_epi32(v, 16)); }

// The 6-bit scales and mins (see quant_detail::k4_scale_min) of 8 Q4_K blocks from
// their packed scale words A, B, C (bytes 0..3, 4..7, 8..11 of each lane's block):
// out[0..3] hold, four per word, scales 0..3, scales 4..7, mins 0..3, mins 4..7.
inline void k4_scale_words(__m256i A, __m256i B, __m256i C, __m256i out[4]) {
    const __m256i m6 = _mm256_set1_epi32(0x3f3f3f3f), m4 = _mm256_set1_epi32(0x0f0f0f0f),
                  top2 = _mm256_set1_epi32(0x30303030);
    out[0] = _mm256_and_si256(A, m6);
    out[1] = _mm256_or_si256(_mm256_and_si256(C, m4), _mm256_and_si256(_mm256_srli_epi32(A, 2), top2));
    out[2] = _mm256_and_si256(B, m6);
    out[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(C, 4), m4), _mm256_and_si256(_mm256_srli_epi32(B, 2), top2));
}

// Scale j (mins = 0) or min j (mins = 2) of k4_scale_words' output, as a 16-bit pair in every lane.
inline __m256i k4_pair(const __m256i words[4], int j, int mins = 0) {
    return pair16(_mm256_and_si256(_mm256_srli_epi32(words[mins + j / 4], 8 * (j % 4)), _mm256_set1_epi32(0xff)));
}

inline void packed_k4_scale_words(const uint8_t* sb, __m256i words[4]) {
    k4_scale_words(load32(sb + kPackedK4Scales), load32(sb + kPackedK4Scales + 32), load32(sb + kPackedK4Scales + 64), words);
}

// ---- Q4_0 / Q8_0 packed at load (layouts.hpp: pack_legacy_rows<8, ...>), for any
// number of tokens. Vnni: vpdpbusd adds 4 levels x 4 activation bytes into 32 bits
// (AVX-VNNI table), the prepared tokens starting each block's sum at -bias * sum(x).
// Without it (AVX2 table) vpmaddubsw multiplies unsigned bytes by signed ones into
// 16-bit pair sums, which add up over a block if the unsigned side is below 16 (8 x 2
// x 15 x 128 < 2^15): Q4_0's levels are, and Q8_0's levels + 128 are split into their
// nibbles (high x 16 + low), each summed on its own and widened once by vpmaddwd.

constexpr int kMaxGroupTokens = 4;  // tokens per kernel call: 4 sums + 4 accumulators in registers

template <int Words>
constexpr size_t kPackedLegacyBytes = x86::PackedLegacyLayout<kRows, Words>::kBytes;

// NT tokens against nb blocks of one packed group (Q4_0: Words = 4, Q8_0: 8).
template <int Words, bool Vnni, int NT>
void kernel_packed_legacy(const uint8_t* group, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                          int64_t out_stride, int rows) {
    using Layout = x86::PackedLegacyLayout<kRows, Words>;
    constexpr bool kNibbles = !Vnni && Words == 8;  // Q8_0 without VNNI
    __m256 acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = group + size_t(b) * kPackedLegacyBytes<Words>;
        for (size_t at = 0; at < kPackedLegacyBytes<Words>; at += 64)
            _mm_prefetch(reinterpret_cast<const char*>(wb + kPrefetchAhead + at), _MM_HINT_T0);
        const x86::PreparedQ8_0* xb[NT];
        __m256i sum[NT], high[NT];  // high: Q8_0's high nibbles without VNNI
        for (int t = 0; t < NT; ++t) {
            xb[t] = reinterpret_cast<const x86::PreparedQ8_0*>(x + size_t(t) * x_stride) + b;
            sum[t] = Vnni ? _mm256_set1_epi32(xb[t]->start) : _mm256_setzero_si256();
            high[t] = _mm256_setzero_si256();
        }
        auto dot = [&](int t, __m256i levels, const int8_t* xq) {
            if constexpr (Vnni)
                sum[t] = _mm256_dpbusd_avx_epi32(sum[t], levels, broadcast_i32(xq));
            else
                sum[t] = _mm256_add_epi16(sum[t], _mm256_maddubs_epi16(levels, broadcast_i32(xq)));
        };
#pragma GCC unroll 8
        for (int g = 0; g < Words; ++g) {
            const __m256i w = load32(wb + Layout::kLevels + Layout::kWord * g);
            if constexpr (Words == 4) {
                const __m256i lo = low_nibbles(w), hi = high_nibbles(w);
                for (int t = 0; t < NT; ++t) {
                    dot(t, lo, xb[t]->qs + 4 * g);
                    dot(t, hi, xb[t]->qs + 16 + 4 * g);
                }
            } else if constexpr (kNibbles) {
                const __m256i lo = low_nibbles(w), hi = high_nibbles(w);
                for (int t = 0; t < NT; ++t) {
                    const __m256i xv = broadcast_i32(xb[t]->qs + 4 * g);
                    sum[t] = _mm256_add_epi16(sum[t], _mm256_maddubs_epi16(lo, xv));
                    high[t] = _mm256_add_epi16(high[t], _mm256_maddubs_epi16(hi, xv));
                }
            } else {
                for (int t = 0; t < NT; ++t) dot(t, w, xb[t]->qs + 4 * g);
            }
        }
        if constexpr (!Vnni)
            for (int t = 0; t < NT; ++t) {
                sum[t] = _mm256_add_epi32(_mm256_madd_epi16(sum[t], _mm256_set1_epi16(1)), _mm256_set1_epi32(xb[t]->start));
                if constexpr (kNibbles) sum[t] = _mm256_add_epi32(sum[t], _mm256_madd_epi16(high[t], _mm256_set1_epi16(16)));
            }
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(wb)));
        for (int t = 0; t < NT; ++t)
            acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum[t]), _mm256_mul_ps(dw, _mm256_set1_ps(xb[t]->d)), acc[t]);
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// Each group (w_stride * 8 bytes) against the tokens in calls of up to 4, a remainder
// spread over the last two calls.
template <int Words, bool Vnni>
void gemm_packed_legacy(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                        size_t x_stride, float* out, int64_t out_stride) {
    using KernelFn = void (*)(const uint8_t*, int64_t, const uint8_t*, size_t, float*, int64_t, int);
    static constexpr KernelFn kernels[kMaxGroupTokens] = {
        kernel_packed_legacy<Words, Vnni, 1>, kernel_packed_legacy<Words, Vnni, 2>, kernel_packed_legacy<Words, Vnni, 3>,
        kernel_packed_legacy<Words, Vnni, 4>};
    const auto* wp = static_cast<const uint8_t*>(w);
    const auto* xp = static_cast<const uint8_t*>(x);
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
        const int rows = int(std::min<int64_t>(kRows, n_rows - r0));
        for (int64_t t0 = 0; t0 < n_tokens;) {
            int64_t nt = std::min<int64_t>(kMaxGroupTokens, n_tokens - t0);
            if (n_tokens - t0 > kMaxGroupTokens && n_tokens - t0 < 2 * kMaxGroupTokens) nt = (n_tokens - t0 + 1) / 2;
            kernels[nt - 1](wp + size_t(r0) * w_stride, n / 32, xp + size_t(t0) * x_stride, x_stride,
                            out + t0 * out_stride + r0, out_stride, rows);
            t0 += nt;
        }
    }
}

// The packed entry of Q4_0 / Q8_0 for a table.
template <typename Block, int Words, bool Vnni>
void set_packed_legacy(KernelTable& t, DType type) {
    PackedKernel& k = t.packed[int(type)];
    k.group_rows = kRows;
    k.pack = x86::pack_legacy_rows<kRows, Block, Words>;
    constexpr int kBias = Words == 4 ? 8 : 128;  // the levels' offset from zero
    k.kernel = GemmKernel{gemm_packed_legacy<Words, Vnni>, x86::prepare_q8_0<kBias>,
                          uint32_t(sizeof(x86::PreparedQ8_0)), kRows, 1};
}

}  // namespace
}  // namespace dsm::kernels::x86::groups
