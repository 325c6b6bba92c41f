// AVX-512 VNNI matrix-vector products for decode (one token), where a weight row is
// read once: the activation row is rearranged once per product ("prepared") so
// that each weight row needs the fewest instructions per byte.
//
// Q4_0: four blocks per register. The 4 x 16 packed bytes load as they are; their
// low nibbles are the blocks' elements 0..15 and the high nibbles 16..31, so the
// prepared activations hold the matching halves (lo = x[0..16) of the 4 blocks,
// hi = x[16..32)) and the per-lane start value -8 * (sum of the lane's 8 values).
// GCC 12 warns about the _mm512_undefined_*() inside its own intrinsics (GCC bug 105593).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "core/fp16.hpp"
#include "kernels/x86/avx512.hpp"
#include "quant/blocks.hpp"

namespace dsm::kernels::avx512 {
namespace {

// Prepared activations of up to 4 Q8_0 blocks; a final group of r < 4 blocks keeps
// only the first 16r bytes of lo and hi, 4r starts and r scales (52 bytes a block).
constexpr size_t kGroupBytes = 4 * 52;

template <typename Byte>  // uint8_t or const uint8_t
struct GroupView {
    Byte* lo;
    Byte* hi;
    Byte* start;  // int32[4 * blocks]
    Byte* d;      // float[blocks]
};

template <typename Byte>
inline GroupView<Byte> group_view(Byte* p, int blocks) {
    return {p, p + 16 * blocks, p + 32 * blocks, p + 48 * blocks};
}

void prepare_q4_0(int64_t n, const void* x, void* prepared) {
    const auto* b = static_cast<const BlockQ8_0*>(x);
    auto* out = static_cast<uint8_t*>(prepared);
    const int64_t nb = n / 32;
    for (int64_t g = 0; g < nb; g += 4, out += kGroupBytes) {
        const int blocks = int(std::min<int64_t>(4, nb - g));
        const auto v = group_view(out, blocks);
        for (int k = 0; k < blocks; ++k) {
            const BlockQ8_0& blk = b[g + k];
            std::memcpy(v.lo + 16 * k, blk.qs, 16);
            std::memcpy(v.hi + 16 * k, blk.qs + 16, 16);
            for (int lane = 0; lane < 4; ++lane) {
                int sum = 0;
                for (int i = 0; i < 4; ++i) sum += blk.qs[4 * lane + i] + blk.qs[16 + 4 * lane + i];
                const int32_t start = -8 * sum;
                std::memcpy(v.start + 4 * (4 * k + lane), &start, 4);
            }
            const float d = fp16_to_f32(blk.d);
            std::memcpy(v.d + 4 * k, &d, 4);
        }
    }
}

// Lanes 4k .. 4k + 3 of the result take s[k].
inline __m512 spread4(__m128 s) {
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3),
                                 _mm512_castps128_ps512(s));
}

// The fp16 scales of `blocks` consecutive Q4_0 blocks (zeros past them), as floats.
inline __m128 block_scales(const BlockQ4_0* w, int blocks) {
    uint64_t h = 0;
    for (int k = 0; k < blocks; ++k) h |= uint64_t(w[k].d) << (16 * k);
    return _mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(h)));
}

inline __m512i load_qs4(const BlockQ4_0* w) {
    __m512i q = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(w[0].qs)));
    q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[1].qs)), 1);
    q = _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[2].qs)), 2);
    return _mm512_inserti32x4(q, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[3].qs)), 3);
}

float row_q4_0(const BlockQ4_0* w, int64_t nb, const uint8_t* xp) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t g = 0;
    for (; g + 8 <= nb; g += 8, xp += 2 * kGroupBytes) {
        const __m512i q0 = load_qs4(w + g), q1 = load_qs4(w + g + 4);
        const auto v0 = group_view(xp, 4), v1 = group_view(xp + kGroupBytes, 4);
        __m512i p0 = _mm512_dpbusd_epi32(_mm512_loadu_si512(v0.start), _mm512_and_si512(q0, m4), _mm512_loadu_si512(v0.lo));
        __m512i p1 = _mm512_dpbusd_epi32(_mm512_loadu_si512(v1.start), _mm512_and_si512(q1, m4), _mm512_loadu_si512(v1.lo));
        p0 = _mm512_dpbusd_epi32(p0, _mm512_and_si512(_mm512_srli_epi16(q0, 4), m4), _mm512_loadu_si512(v0.hi));
        p1 = _mm512_dpbusd_epi32(p1, _mm512_and_si512(_mm512_srli_epi16(q1, 4), m4), _mm512_loadu_si512(v1.hi));
        const __m128 s0 = _mm_mul_ps(block_scales(w + g, 4), _mm_loadu_ps(reinterpret_cast<const float*>(v0.d)));
        const __m128 s1 = _mm_mul_ps(block_scales(w + g + 4, 4), _mm_loadu_ps(reinterpret_cast<const float*>(v1.d)));
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), spread4(s0), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), spread4(s1), acc1);
    }
    for (; g < nb; g += 4, xp += kGroupBytes) {
        const int blocks = int(std::min<int64_t>(4, nb - g));
        const auto v = group_view(xp, blocks);
        alignas(64) uint8_t qs[64] = {};
        for (int k = 0; k < blocks; ++k) std::memcpy(qs + 16 * k, w[g + k].qs, 16);
        const __m512i q = _mm512_load_si512(qs);
        const __mmask64 mb = blocks == 4 ? ~__mmask64(0) : (__mmask64(1) << (16 * blocks)) - 1;
        const __mmask16 ml = __mmask16((1u << (4 * blocks)) - 1);
        __m512i p = _mm512_maskz_loadu_epi32(ml, v.start);
        p = _mm512_dpbusd_epi32(p, _mm512_and_si512(q, m4), _mm512_maskz_loadu_epi8(mb, v.lo));
        p = _mm512_dpbusd_epi32(p, _mm512_and_si512(_mm512_srli_epi16(q, 4), m4), _mm512_maskz_loadu_epi8(mb, v.hi));
        const __m128 s = _mm_mul_ps(block_scales(w + g, blocks), _mm_maskz_loadu_ps(__mmask8((1u << blocks) - 1), reinterpret_cast<const float*>(v.d)));
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), spread4(s), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void gemv_q4_0(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
               size_t x_stride, float* out, int64_t out_stride) {
    const auto* wp = static_cast<const uint8_t*>(w);
    const auto* xp = static_cast<const uint8_t*>(x);
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto* row = reinterpret_cast<const BlockQ4_0*>(wp + size_t(r) * w_stride);
        for (int64_t t = 0; t < n_tokens; ++t) out[t * out_stride + r] = row_q4_0(row, n / 32, xp + size_t(t) * x_stride);
    }
}

}  // namespace

void set_gemv_kernels(KernelTable& t) {
    GemmKernel& k = t.gemv[int(DType::Q4_0)];
    k.gemm = gemv_q4_0;
    k.prepare = prepare_q4_0;
    k.prepared_block_bytes = kGroupBytes / 4;
    k.row_tile = 1;
    k.min_tokens = 1;
}

}  // namespace dsm::kernels::avx512
