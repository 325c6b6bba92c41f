// AVX-512 kernels over weights packed once at load (KernelTable::packed,
// kernels/pack.hpp).
//
// The prompt tiles' lane = row arrangement (gemm_avx512.cpp), written once when the
// model loads, kept as compact
// as the file's blocks so that decode reads no more bytes than the file holds. Per
// block of 16 rows: the 16 fp16 scales (32 bytes), then words of 64 bytes whose lane r
// holds 4 bytes of row r's levels (Q4_0 288 bytes = 16 x 18, Q8_0 544 bytes = 16 x 34;
// Q4_0, Q8_0 and Q4_K: see layouts.hpp).
// Decode streams through the groups (one pass over memory, prefetched ahead: some
// CPUs' hardware prefetchers do not keep up with a compute-heavy stream); prompts
// expand each group into the gemm tile (levels one per byte in 64-byte-aligned words,
// float scales) and run the tile kernels, which reread it from cache for every
// 8 tokens.
#include <algorithm>
#include <cstddef>
#include <cstring>

#include "kernels/x86/gemm_tiles_avx512.hpp"
#include "kernels/x86/layouts.hpp"

namespace dsm::kernels::avx512 {
namespace {

// Bytes ahead of the block in use that decode asks the cache for.
constexpr size_t kPrefetchAhead = 2048;

template <int Words>
inline void prefetch_block(const uint8_t* wb) {
    #pragma GCC unroll 16
    for (size_t at = 0; at < kPackedLegacyBytes<Words>; at += 64) _mm_prefetch(reinterpret_cast<const char*>(wb + kPrefetchAhead + at), _MM_HINT_T0);
}

template <int Words, int NT>
void kernel_packed_legacy(const uint8_t* group, int64_t nb, const uint8_t* x, size_t x_stride, float* out,
                          int64_t out_stride, __mmask16 rows) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc[NT];
    #pragma GCC unroll 16
    for (int t = 0; t < NT; ++t) acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; ++b) {
        const uint8_t* wb = group + size_t(b) * kPackedLegacyBytes<Words>;
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

// Packed Q4_0 / Q8_0 for prompts: a group's blocks as kernel_legacy's tile blocks
// (Q4_0's low nibbles to words 0..3, high nibbles to 4..7, as repack_q4_0 does).
template <int Words>
void unpack_legacy(const uint8_t* group, int64_t nb, uint8_t* tile) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int64_t b = 0; b < nb; ++b, group += kPackedLegacyBytes<Words>, tile += kLegacyBlockBytes) {
        for (int g = 0; g < Words; ++g) {
            const __m512i w = _mm512_loadu_si512(group + 32 + 64 * g);
            if constexpr (Words == 4) {
                store(tile + 64 * g, _mm512_and_si512(w, m4));
                store(tile + 64 * (g + 4), _mm512_and_si512(_mm512_srli_epi32(w, 4), m4));
            } else {
                store(tile + 64 * g, w);
            }
        }
        _mm512_store_ps(tile + 512, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group))));
    }
}

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
    const __m512i m4 = _mm512_set1_epi8(0x0f), byte = _mm512_set1_epi32(0xff);
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
        __m512i words[4];  // scales 0..3, 4..7, mins 0..3, 4..7
        k4_scale_words(A, B, C, words);
        const __m512i* sc = words;
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
        __m512i pairs[4];
        k4_min_pairs(words, pairs);
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

// Packed Q4_K for prompts: each super-block of a group expanded to the gemm's tile
// (levels one per byte, scales unpacked), then the gemm kernel, as for the file's rows.
void unpack_q4_k(const uint8_t* group, int64_t nb, uint8_t* tile) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    for (int64_t b = 0; b < nb; ++b, group += kPackedK4Bytes, tile += kK4BlockBytes) {
        for (int k = 0; k < 32; ++k) {
            const __m512i w = _mm512_loadu_si512(group + kPackedK4Levels + 64 * k);
            store(tile + 512 * (2 * (k / 8)) + 64 * (k % 8), _mm512_and_si512(w, m4));
            store(tile + 512 * (2 * (k / 8) + 1) + 64 * (k % 8), _mm512_and_si512(_mm512_srli_epi32(w, 4), m4));
        }
        const __m512i A = _mm512_loadu_si512(group + kPackedK4Scales), B = _mm512_loadu_si512(group + kPackedK4Scales + 64),
                      C = _mm512_loadu_si512(group + kPackedK4Scales + 128);
        __m512i words[4];
        k4_scale_words(A, B, C, words);
        store_k4_scales(words, tile);
        _mm512_store_ps(tile + kK4D, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group))));
        _mm512_store_ps(tile + kK4DMin, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32))));
    }
}

// Packed weights: decode (1 or 2 tokens) reads the packed groups directly; prompts
// expand each group into the gemm tile and run the gemm kernel.
template <template <int> class Direct, void (*Unpack)(const uint8_t*, int64_t, uint8_t*), template <int> class Tiled,
          int BlockElems, size_t TileBlockBytes>
void gemm_packed(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                 size_t x_stride, float* out, int64_t out_stride) {
    const auto* wp = static_cast<const uint8_t*>(w);
    const auto* xp = static_cast<const uint8_t*>(x);
    const int64_t nb = n / BlockElems;
    uint8_t* tile = n_tokens > 2 ? tile_buffer(size_t(nb) * TileBlockBytes) : nullptr;
    for (int64_t r0 = 0; r0 < n_rows; r0 += kRows) {
        const int rows = int(std::min<int64_t>(kRows, n_rows - r0));
        if (!tile) {
            tile_times_tokens<Direct, 2>(wp + size_t(r0) * w_stride, nb, n_tokens, xp, x_stride, out + r0, out_stride, rows);
            continue;
        }
        Unpack(wp + size_t(r0) * w_stride, nb, tile);
        tile_times_tokens<Tiled, kMaxTokens>(tile, nb, n_tokens, xp, x_stride, out + r0, out_stride, rows);
    }
}

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

}  // namespace

void set_packed_kernels(KernelTable& t) {
    auto packed = [&](DType type, PackFn pack, GemmFn fn, GemmPrepareFn prepare, size_t prepared_bytes) {
        PackedKernel& k = t.packed[int(type)];
        k.group_rows = kRows;
        k.pack = pack;
        k.kernel = GemmKernel{fn, prepare, uint32_t(prepared_bytes), kRows, 1};
    };
    packed(DType::Q4_0, x86::pack_legacy_rows<kRows, BlockQ4_0, 4>,
           gemm_packed<PackedQ4_0, unpack_legacy<4>, Legacy, 32, kLegacyBlockBytes>, prepare_q8_0<8>, sizeof(PreparedQ8_0));
    packed(DType::Q8_0, x86::pack_legacy_rows<kRows, BlockQ8_0, 8>,
           gemm_packed<PackedQ8_0, unpack_legacy<8>, Legacy, 32, kLegacyBlockBytes>, prepare_q8_0<128>, sizeof(PreparedQ8_0));
    packed(DType::Q4_K, x86::pack_q4_k_rows<kRows>, gemm_packed<PackedQ4K, unpack_q4_k, K45, kQK_K, kK4BlockBytes>,
           prepare_q8_k_pairs, kQ8KPairsBlockBytes);
}

}  // namespace dsm::kernels::avx512
