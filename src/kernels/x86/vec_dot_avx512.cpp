// AVX-512 table (F/BW/VL/DQ/VNNI/BF16): dot products of one weight row with one
// activation row, and the activation conversions.
//
// Integer parts use VNNI (vpdpbusd: unsigned bytes x signed bytes -> int32). The
// weight levels are made unsigned (a bias the format subtracts is taken off with a
// second dpbusd of the bias against the activations), so every integer dot is exact
// like the scalar one; only the float summation order differs from scalar_table().
//
// from_float: the same arithmetic as the scalar quantizers, lane by lane, so the
// bytes are identical (see quantize_q8_0_activations & co. in quant/quant.hpp).
#include <cstring>

#include "core/fp16.hpp"
#include "kernels/kernels.hpp"
#include "kernels/x86/avx512.hpp"
#include "quant/blocks.hpp"
#include "quant/unpack.hpp"

namespace dsm::kernels {
namespace avx512 {
namespace {

// An empty asm that "modifies" v: the compiler cannot fuse the multiply that made v
// with a later add into an FMA, which would skip the product's rounding that the
// scalar reference (compiled without FMA) performs.
inline __m512 materialized(__m512 v) {
    asm("" : "+v"(v));
    return v;
}

inline float fp16(uint16_t h) { return _cvtsh_ss(h); }  // exact, like fp16_to_f32

inline __m512i bytes(int8_t v) { return _mm512_set1_epi8(v); }

// ---- plain float types: every product is exact in double; summed in double lanes.

inline void dot16_double(__m512 a, __m512 b, __m512d& s0, __m512d& s1) {
    s0 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(a)), _mm512_cvtps_pd(_mm512_castps512_ps256(b)), s0);
    s1 = _mm512_fmadd_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(a, 1)), _mm512_cvtps_pd(_mm512_extractf32x8_ps(b, 1)),
                         s1);
}

template <typename Load>
float dot_in_double(int64_t n, const void* w, const void* x, Load load) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd(), s2 = _mm512_setzero_pd(), s3 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        dot16_double(load(w, i, 0xffff), load(x, i, 0xffff), s0, s1);
        dot16_double(load(w, i + 16, 0xffff), load(x, i + 16, 0xffff), s2, s3);
    }
    for (; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
        dot16_double(load(w, i, m), load(x, i, m), s0, s1);
    }
    return float(_mm512_reduce_add_pd(_mm512_add_pd(_mm512_add_pd(s0, s1), _mm512_add_pd(s2, s3))));
}

inline __m512 load_f32(const void* p, int64_t i, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, static_cast<const float*>(p) + i);
}
inline __m512 load_f16(const void* p, int64_t i, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
}
inline __m512 load_bf16(const void* p, int64_t i, __mmask16 m) {
    const __m512i h = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, static_cast<const uint16_t*>(p) + i));
    return _mm512_castsi512_ps(_mm512_slli_epi32(h, 16));
}

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) { *out = dot_in_double(n, w, x, load_f32); }
void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) { *out = dot_in_double(n, w, x, load_f16); }
// Not vdpbf16ps: it flushes subnormal inputs and rounds every pair sum to float,
// which is more than summation order; the widening load is as fast here.
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x) { *out = dot_in_double(n, w, x, load_bf16); }

// ---- 32-element blocks against Q8_0 / Q8_1 activations, two blocks per register.
// Lanes 0..7 hold the first block's partial sums, lanes 8..15 the second's.

// [a0 * b0 x 8 lanes, a1 * b1 x 8 lanes] from fp16 scales (the products are exact).
inline __m512 pair_scale(uint16_t a0, uint16_t a1, uint16_t b0, uint16_t b1) {
    const uint64_t h = uint64_t(a0) | uint64_t(a1) << 16 | uint64_t(b0) << 32 | uint64_t(b1) << 48;
    const __m128 f = _mm_cvtph_ps(_mm_cvtsi64_si128(int64_t(h)));
    const __m128 s = _mm_mul_ps(f, _mm_movehl_ps(f, f));
    return _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                 _mm512_castps128_ps512(s));
}

// Two 32-byte quant arrays as one register.
inline __m512i load_pair(const void* p0, const void* p1) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256(static_cast<const __m256i*>(p0))),
                              _mm256_loadu_si256(static_cast<const __m256i*>(p1)), 1);
}

// The nibbles of two blocks' 16 bytes in element order: [lo0 | hi0 | lo1 | hi1].
inline __m512i nibbles_pair(const uint8_t* q0, const uint8_t* q1) {
    const __m256i q = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q0))),
                                              _mm_loadu_si128(reinterpret_cast<const __m128i*>(q1)), 1);
    const __m512i d = _mm512_permutexvar_epi64(_mm512_setr_epi64(0, 1, 0, 1, 2, 3, 2, 3), _mm512_castsi256_si512(q));
    return _mm512_and_si512(_mm512_mask_srli_epi16(d, 0xff00ff00u, d, 4), bytes(0x0f));
}

// Adds 16 to the bytes whose bit is set in the two blocks' 32-bit qh masks.
inline __m512i add_fifth_bits(__m512i v, const uint8_t* qh0, const uint8_t* qh1) {
    uint32_t h0, h1;
    std::memcpy(&h0, qh0, 4);
    std::memcpy(&h1, qh1, 4);
    return _mm512_mask_add_epi8(v, _cvtu64_mask64(uint64_t(h0) | uint64_t(h1) << 32), v, bytes(16));
}

// dot(levels - bias, x) per lane for unsigned levels.
inline __m512i biased_dot(__m512i levels, __m512i x, int8_t bias) {
    const __m512i zero = _mm512_setzero_si512();
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(zero, levels, x), _mm512_dpbusd_epi32(zero, bytes(bias), x));
}

// Shared loop of the types with Q8_0 activations; Levels(block) gives the unsigned
// levels of blocks i and i + 1 (j == i for a lone last block, whose second half is
// then scaled by zero).
template <typename Block, typename Levels>
float dot_q8_0_blocks(int64_t n, const void* w, const void* x, int8_t bias, Levels levels) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    const int64_t nb = n / 32;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 4 <= nb; i += 4) {
        const __m512i p0 = biased_dot(levels(a[i], a[i + 1]), load_pair(b[i].qs, b[i + 1].qs), bias);
        const __m512i p1 = biased_dot(levels(a[i + 2], a[i + 3]), load_pair(b[i + 2].qs, b[i + 3].qs), bias);
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p0), pair_scale(a[i].d, a[i + 1].d, b[i].d, b[i + 1].d), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p1), pair_scale(a[i + 2].d, a[i + 3].d, b[i + 2].d, b[i + 3].d), acc1);
    }
    for (; i < nb; i += 2) {
        const int64_t j = i + 1 < nb ? i + 1 : i;
        const __m512i p = biased_dot(levels(a[i], a[j]), load_pair(b[i].qs, b[j].qs), bias);
        acc0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), pair_scale(a[i].d, j > i ? a[j].d : 0, b[i].d, b[j].d), acc0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1));
}

void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_0_blocks<BlockQ4_0>(n, w, x, 8, [](const BlockQ4_0& b0, const BlockQ4_0& b1) {
        return nibbles_pair(b0.qs, b1.qs);
    });
}

void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_0_blocks<BlockQ5_0>(n, w, x, 16, [](const BlockQ5_0& b0, const BlockQ5_0& b1) {
        return add_fifth_bits(nibbles_pair(b0.qs, b1.qs), b0.qh, b1.qh);
    });
}

void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* x) {
    // Signed weights become unsigned levels with bias 128.
    *out = dot_q8_0_blocks<BlockQ8_0>(n, w, x, int8_t(-128), [](const BlockQ8_0& b0, const BlockQ8_0& b1) {
        return _mm512_xor_si512(load_pair(b0.qs, b1.qs), bytes(int8_t(-128)));
    });
}

// Q4_1 / Q5_1 with Q8_1 activations: sum d_w d_x dot(levels, x) + m_w s_x per block.
template <typename Block, typename Levels>
float dot_q8_1_blocks(int64_t n, const void* w, const void* x, Levels levels) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    const int64_t nb = n / 32;
    __m512 acc = _mm512_setzero_ps();
    __m128 offsets = _mm_setzero_ps();  // lanes 2, 3: sums of m_w * s_x
    for (int64_t i = 0; i < nb; i += 2) {
        const bool pair = i + 1 < nb;
        const int64_t j = pair ? i + 1 : i;
        const uint16_t zero16 = 0;
        // [d_w0 d_w1 m_w0 m_w1 | d_x0 d_x1 s_x0 s_x1] -> products in the low four lanes.
        const __m128i h = _mm_setr_epi16(short(a[i].d), short(pair ? a[j].d : zero16), short(a[i].m),
                                         short(pair ? a[j].m : zero16), short(b[i].d), short(b[j].d), short(b[i].s),
                                         short(b[j].s));
        const __m256 f = _mm256_cvtph_ps(h);
        const __m128 prod = _mm_mul_ps(_mm256_castps256_ps128(f), _mm256_extractf128_ps(f, 1));
        offsets = _mm_add_ps(offsets, prod);
        const __m512 scale = _mm512_permutexvar_ps(_mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                                   _mm512_castps128_ps512(prod));
        const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels(a[i], a[j]), load_pair(b[i].qs, b[j].qs));
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(p), scale, acc);
    }
    alignas(16) float o[4];
    _mm_store_ps(o, offsets);
    return _mm512_reduce_add_ps(acc) + (o[2] + o[3]);
}

void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_1_blocks<BlockQ4_1>(n, w, x, [](const BlockQ4_1& b0, const BlockQ4_1& b1) {
        return nibbles_pair(b0.qs, b1.qs);
    });
}

void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_1_blocks<BlockQ5_1>(n, w, x, [](const BlockQ5_1& b0, const BlockQ5_1& b1) {
        return add_fifth_bits(nibbles_pair(b0.qs, b1.qs), b0.qh, b1.qh);
    });
}

// ---- k-quants against Q8_K. One register covers 64 elements; dpbusd leaves 4-element
// partial sums per lane, which vpdpwssd multiplies by the lane's sub-block scale (a
// partial sum is below 2^15, so it is exact as the low 16-bit half of the lane).

// Lane scales (value in the low 16 bits, 0 above) for 64 elements with 16-element
// sub-blocks: lanes 4k..4k+3 take scale first + k.
inline __m512i scales16(__m512i sc32, int first) {
    const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(first),
                                         _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3));
    return _mm512_permutexvar_epi32(idx, sc32);
}
// Same for 32-element sub-blocks: lanes 0..7 take scale first, lanes 8..15 first + 1.
inline __m512i scales32(__m512i sc32, int first) {
    const __m512i idx = _mm512_add_epi32(_mm512_set1_epi32(first),
                                         _mm512_setr_epi32(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
    return _mm512_permutexvar_epi32(idx, sc32);
}

inline __m512i scaled_dot(__m512i acc, __m512i levels, const int8_t* x, __m512i lane_scales) {
    const __m512i p = _mm512_dpbusd_epi32(_mm512_setzero_si512(), levels, _mm512_loadu_si512(x));
    return _mm512_dpwssd_epi32(acc, p, lane_scales);
}

// 32 bytes in both halves of a register.
inline __m512i broadcast32(const uint8_t* p) {
    return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}

// Shift counts for 16-bit lanes: lo in the low 256 bits, hi in the high 256 bits.
inline __m512i shifts(short lo, short hi) {
    return _mm512_inserti64x4(_mm512_set1_epi16(lo), _mm256_set1_epi16(hi), 1);
}

// The 8 6-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K / Q5_K block.
inline void k4_scales_mins(const uint8_t* packed, uint8_t out[16]) {
    uint32_t a, b, c;
    std::memcpy(&a, packed, 4);
    std::memcpy(&b, packed + 4, 4);
    std::memcpy(&c, packed + 8, 4);
    const uint32_t sc_lo = a & 0x3f3f3f3fu, m_lo = b & 0x3f3f3f3fu;
    const uint32_t sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
    const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
    std::memcpy(out, &sc_lo, 4);
    std::memcpy(out + 4, &sc_hi, 4);
    std::memcpy(out + 8, &m_lo, 4);
    std::memcpy(out + 12, &m_hi, 4);
}

// Q4_K / Q5_K: sub-blocks of 32 with 6-bit scales and mins.
template <bool Q5>
float dot_q45_k(int64_t n, const void* w, const void* x) {
    using Block = std::conditional_t<Q5, BlockQ5_K, BlockQ4_K>;
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_min = _mm256_setzero_ps();
    const __m512i nibble_shift = shifts(0, 4);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        alignas(16) uint8_t sm[16];
        k4_scales_mins(a[i].scales, sm);
        const __m128i smv = _mm_load_si128(reinterpret_cast<const __m128i*>(sm));
        const __m512i sc32 = _mm512_cvtepu8_epi32(smv);
        __m512i isum = _mm512_setzero_si512();
        __m512i qh;
        if constexpr (Q5) qh = broadcast32(a[i].qh);
        for (int c = 0; c < 4; ++c) {
            const __m512i q = broadcast32(a[i].qs + 32 * c);
            __m512i levels = _mm512_and_si512(_mm512_srlv_epi16(q, nibble_shift), bytes(0x0f));
            if constexpr (Q5) {
                const __m512i bit = _mm512_inserti64x4(bytes(char(1 << (2 * c))), _mm256_set1_epi8(char(2 << (2 * c))), 1);
                levels = _mm512_mask_add_epi8(levels, _mm512_test_epi8_mask(qh, bit), levels, bytes(16));
            }
            isum = scaled_dot(isum, levels, b[i].qs + 64 * c, scales32(sc32, 2 * c));
        }
        // Mins: sum_j m_j * (bsums[2j] + bsums[2j + 1]).
        const __m256i pair_sums = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].bsums)),
                                                    _mm256_set1_epi16(1));
        const __m256i mins = _mm256_mullo_epi32(pair_sums, _mm256_cvtepu8_epi32(_mm_srli_si128(smv, 8)));
        const float d = fp16(a[i].d) * b[i].d;
        const float dmin = fp16(a[i].dmin) * b[i].d;
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d), acc);
        acc_min = _mm256_fmadd_ps(_mm256_cvtepi32_ps(mins), _mm256_set1_ps(dmin), acc_min);
    }
    const __m128 m = _mm_add_ps(_mm256_castps256_ps128(acc_min), _mm256_extractf128_ps(acc_min, 1));
    const __m128 m2 = _mm_add_ps(m, _mm_movehl_ps(m, m));
    return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(_mm_add_ss(m2, _mm_movehdup_ps(m2)));
}

void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x) { *out = dot_q45_k<false>(n, w, x); }
void vec_dot_q5_k(int64_t n, float* out, const void* w, const void* x) { *out = dot_q45_k<true>(n, w, x); }

// Sum of the 8 int32 lanes of v.
inline int hsum_epi32(__m256i v) {
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    return _mm_cvtsi128_si32(_mm_add_epi32(s, _mm_shuffle_epi32(s, 1)));
}

// sum_j c_j * bsums_j over the 16 sub-blocks (c: 16 int16).
inline int weighted_bsums(const BlockQ8_K& y, __m256i c16) {
    return hsum_epi32(_mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(y.bsums)), c16));
}

// Word shuffles of Q6_K's 16 scales for two parts packed to 16-bit words (vpackssdw):
// the packed words of 128-bit lane k are [first part's lanes 4k..4k+3 | second's], i.e.
// sub-blocks first + k and second + k. The parts' sums of 4 products (levels 0..63 times
// int8) stay within 16 bits, so the packing is exact and one vpdpwssd scales both.
constexpr auto kQ6ScaleWords = [] {
    struct alignas(64) Rows {
        int16_t idx[2][32];
        constexpr const int16_t* operator[](int i) const { return idx[i]; }
    } t{};
    for (int half = 0; half < 2; ++half)
        for (int w = 0; w < 32; ++w) t.idx[half][w] = int16_t(8 * half + (w % 8 < 4 ? 0 : 4) + w / 8);
    return t;
}();

void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ6_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    const __m512i up01 = shifts(4, 2), down23 = shifts(0, 2);
    const __m512i pairs_lo = _mm512_load_si512(kQ6ScaleWords[0]), pairs_hi = _mm512_load_si512(kQ6ScaleWords[1]);
    __m512 acc = _mm512_setzero_ps();
    __m256 acc_bias = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales)));
        const __m512i sc = _mm512_castsi256_si512(sc16);
        __m512i part[4];
        for (int h = 0; h < 2; ++h) {
            const __m512i ql = _mm512_loadu_si512(a[i].ql + 64 * h);
            const __m512i qh = broadcast32(a[i].qh + 32 * h);
            // Elements 128h + [0, 64): low nibbles, high bits 0..1 / 2..3; [64, 128): high nibbles, bits 4..5 / 6..7.
            const __m512i l01 = _mm512_ternarylogic_epi32(_mm512_and_si512(ql, bytes(0x0f)), _mm512_sllv_epi16(qh, up01),
                                                          bytes(0x30), 0xf8);  // a | (b & c)
            const __m512i l23 = _mm512_ternarylogic_epi32(_mm512_and_si512(_mm512_srli_epi16(ql, 4), bytes(0x0f)),
                                                          _mm512_srlv_epi16(qh, down23), bytes(0x30), 0xf8);
            part[2 * h] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), l01, _mm512_loadu_si512(b[i].qs + 128 * h));
            part[2 * h + 1] = _mm512_dpbusd_epi32(_mm512_setzero_si512(), l23, _mm512_loadu_si512(b[i].qs + 128 * h + 64));
        }
        __m512i isum = _mm512_dpwssd_epi32(_mm512_setzero_si512(), _mm512_packs_epi32(part[0], part[1]),
                                           _mm512_permutexvar_epi16(pairs_lo, sc));
        isum = _mm512_dpwssd_epi32(isum, _mm512_packs_epi32(part[2], part[3]), _mm512_permutexvar_epi16(pairs_hi, sc));
        const float d = fp16(a[i].d) * b[i].d;
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_set1_ps(d), acc);
        // Levels were stored +32: subtract 32 * sum_j scale_j * bsum_j (below, once).
        const __m256i bias = _mm256_madd_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(b[i].bsums)), sc16);
        acc_bias = _mm256_fmadd_ps(_mm256_cvtepi32_ps(bias), _mm256_set1_ps(d), acc_bias);
    }
    const __m128 m = _mm_add_ps(_mm256_castps256_ps128(acc_bias), _mm256_extractf128_ps(acc_bias, 1));
    const __m128 m2 = _mm_add_ps(m, _mm_movehl_ps(m, m));
    *out = _mm512_reduce_add_ps(acc) - 32.0f * _mm_cvtss_f32(_mm_add_ss(m2, _mm_movehdup_ps(m2)));
}

// Q2_K / Q3_K share the 2-bit layout: elements 128h + 32k + l in bits 2k of qs[32h + l].
inline __m512i two_bit_levels(const uint8_t* qs, int h, int p) {
    const __m512i q = broadcast32(qs + 32 * h);
    return _mm512_and_si512(_mm512_srlv_epi16(q, shifts(short(4 * p), short(4 * p + 2))), bytes(3));
}

void vec_dot_q2_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ2_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const __m128i raw = _mm_loadu_si128(reinterpret_cast<const __m128i*>(a[i].scales));
        const __m512i sc32 = _mm512_cvtepu8_epi32(_mm_and_si128(raw, _mm_set1_epi8(0x0f)));
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), _mm_set1_epi8(0x0f)));
        __m512i isum = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h)
            for (int p = 0; p < 2; ++p)
                isum = scaled_dot(isum, two_bit_levels(a[i].qs, h, p), b[i].qs + 128 * h + 64 * p,
                                  scales16(sc32, 8 * h + 4 * p));
        const float dall = b[i].d * fp16(a[i].d);
        const float dmin = b[i].d * fp16(a[i].dmin);
        sum += dall * float(_mm512_reduce_add_epi32(isum)) - dmin * float(weighted_bsums(b[i], m16));
    }
    *out = sum;
}

void vec_dot_q3_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ3_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        alignas(16) int8_t sc[16];
        for (int j = 0; j < 16; ++j) sc[j] = int8_t(quant_detail::q3k_scale(a[i].scales, j));
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(sc)));
        const __m512i sc32 = _mm512_cvtepu16_epi32(sc16);
        const __m512i hm = broadcast32(a[i].hmask);
        __m512i isum = _mm512_setzero_si512();
        for (int h = 0; h < 2; ++h) {
            for (int p = 0; p < 2; ++p) {
                // Level + 4 where hmask bit (4h + 2p, +1 for the upper 32) is set: 0..7, bias 4.
                const int bit = 4 * h + 2 * p;
                const __m512i sel = _mm512_inserti64x4(bytes(char(1 << bit)), _mm256_set1_epi8(char(2 << bit)), 1);
                __m512i levels = two_bit_levels(a[i].qs, h, p);
                levels = _mm512_mask_add_epi8(levels, _mm512_test_epi8_mask(hm, sel), levels, bytes(4));
                isum = scaled_dot(isum, levels, b[i].qs + 128 * h + 64 * p, scales16(sc32, 8 * h + 4 * p));
            }
        }
        const int scaled = _mm512_reduce_add_epi32(isum) - 4 * weighted_bsums(b[i], sc16);
        sum += fp16(a[i].d) * b[i].d * float(scaled);
    }
    *out = sum;
}

// ---- activation conversions (bit-identical to the scalar ones).

// nearest_int (quant/unpack.hpp) of 16 products, clamped to [-128, 127].
inline __m512i quantize16(__m512 x, __m512 scale) {
    const __m512 shifted = _mm512_add_ps(materialized(_mm512_mul_ps(x, scale)), _mm512_set1_ps(12582912.f));
    const __m512i r = _mm512_sub_epi32(_mm512_and_si512(_mm512_castps_si512(shifted), _mm512_set1_epi32(0x007fffff)),
                                       _mm512_set1_epi32(0x00400000));
    return _mm512_min_epi32(_mm512_max_epi32(r, _mm512_set1_epi32(-128)), _mm512_set1_epi32(127));
}

inline __m512 abs_ps(__m512 v) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff))); }

// max(m, |v|) that keeps m where v is NaN (vmaxps returns its second operand then),
// like the scalar fmax / strict-greater loops.
inline __m512 max_abs(__m512 m, __m512 v) { return _mm512_max_ps(abs_ps(v), m); }

// One Q8_0 / Q8_1 block: d and qs; returns the float d and the sum of the quants.
inline float q8_block(const float* x, uint16_t& d_out, int8_t* qs, int& sum) {
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(max_abs(max_abs(_mm512_setzero_ps(), v0), v1));
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    d_out = f32_to_fp16(d);
    const __m512i q0 = quantize16(v0, _mm512_set1_ps(id)), q1 = quantize16(v1, _mm512_set1_ps(id));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs), _mm512_cvtepi32_epi8(q0));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(qs + 16), _mm512_cvtepi32_epi8(q1));
    sum = _mm512_reduce_add_epi32(_mm512_add_epi32(q0, q1));
    return d;
}

void from_float_q8_0(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_0*>(y);
    for (int64_t i = 0; i < n / 32; ++i) {
        int sum;
        q8_block(x + 32 * i, b[i].d, b[i].qs, sum);
    }
}

void from_float_q8_1(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_1*>(y);
    for (int64_t i = 0; i < n / 32; ++i) {
        int sum;
        const float d = q8_block(x + 32 * i, b[i].d, b[i].qs, sum);
        b[i].s = f32_to_fp16(d * float(sum));
    }
}

void from_float_q8_k(const float* x, void* y, int64_t n) {
    auto* b = static_cast<BlockQ8_K*>(y);
    for (int64_t i = 0; i < n / kQK_K; ++i, x += kQK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int k = 0; k < 16; ++k) m = max_abs(m, _mm512_loadu_ps(x + 16 * k));
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0) {
            std::memset(&b[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        // The value of largest magnitude: the first one on ties, as the scalar loop.
        float max = 0;
        for (int k = 0; k < 16; ++k) {
            const __mmask16 hit = _mm512_cmp_ps_mask(abs_ps(_mm512_loadu_ps(x + 16 * k)), _mm512_set1_ps(amax), _CMP_EQ_OQ);
            if (hit) {
                max = x[16 * k + __builtin_ctz(hit)];
                break;
            }
        }
        const float iscale = -127.f / max;
        for (int k = 0; k < 16; ++k) {
            const __m512i q = quantize16(_mm512_loadu_ps(x + 16 * k), _mm512_set1_ps(iscale));
            _mm_storeu_si128(reinterpret_cast<__m128i*>(b[i].qs + 16 * k), _mm512_cvtepi32_epi8(q));
            b[i].bsums[k] = int16_t(_mm512_reduce_add_epi32(q));
        }
        b[i].d = 1 / iscale;
    }
}

inline __mmask16 tail_mask(int64_t left) { return left >= 16 ? __mmask16(0xffff) : __mmask16((1u << left) - 1); }

void from_float_f16(const float* x, void* y, int64_t n) {
    auto* h = static_cast<uint16_t*>(y);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        __m256i r = _mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
        // NaN: the scalar conversion gives sign | 0x7e00 whatever the payload.
        const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        if (nan) {
            const __m512i sign = _mm512_srli_epi32(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(int(0x80000000u))), 16);
            r = _mm256_mask_mov_epi16(r, nan, _mm512_cvtepi32_epi16(_mm512_or_si512(sign, _mm512_set1_epi32(0x7e00))));
        }
        _mm256_mask_storeu_epi16(h + i, m, r);
    }
}

void from_float_bf16(const float* x, void* y, int64_t n) {
    auto* h = static_cast<uint16_t*>(y);
    const __m512i one = _mm512_set1_epi32(1);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = tail_mask(n - i);
        const __m512i u = _mm512_castps_si512(_mm512_maskz_loadu_ps(m, x + i));
        // Round to nearest even; NaN: quiet, truncated.
        const __m512i rounded = _mm512_srli_epi32(
            _mm512_add_epi32(u, _mm512_add_epi32(_mm512_set1_epi32(0x7fff), _mm512_and_si512(_mm512_srli_epi32(u, 16), one))), 16);
        const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
        const __m512i r = _mm512_mask_or_epi32(rounded, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
        _mm256_mask_storeu_epi16(h + i, m, _mm512_cvtepi32_epi16(r));
    }
}

KernelTable make_table() {
    KernelTable t;
    t.isa = "avx512";
    auto set_dot = [&](DType w, VecDotFn f) { t.vec_dot[int(w)] = f; };
    auto set_from = [&](DType a, FromFloatFn f) { t.from_float[int(a)] = f; };
    set_dot(DType::F32, vec_dot_f32);
    set_dot(DType::F16, vec_dot_f16);
    set_dot(DType::BF16, vec_dot_bf16);
    set_dot(DType::Q4_0, vec_dot_q4_0);
    set_dot(DType::Q4_1, vec_dot_q4_1);
    set_dot(DType::Q5_0, vec_dot_q5_0);
    set_dot(DType::Q5_1, vec_dot_q5_1);
    set_dot(DType::Q8_0, vec_dot_q8_0);
    set_dot(DType::Q2_K, vec_dot_q2_k);
    set_dot(DType::Q3_K, vec_dot_q3_k);
    set_dot(DType::Q4_K, vec_dot_q4_k);
    set_dot(DType::Q5_K, vec_dot_q5_k);
    set_dot(DType::Q6_K, vec_dot_q6_k);
    set_from(DType::F16, from_float_f16);
    set_from(DType::BF16, from_float_bf16);
    set_from(DType::Q8_0, from_float_q8_0);
    set_from(DType::Q8_1, from_float_q8_1);
    set_from(DType::Q8_K, from_float_q8_k);
    set_gemm_kernels(t);
    set_packed_kernels(t);
    set_float_gemm_kernels(t);
    set_gemv_kernels(t);
    set_layer_kernels(t);
    return t;
}

}  // namespace
}  // namespace avx512

const KernelTable& avx512_table() {
    static const KernelTable table = avx512::make_table();
    return table;
}

}  // namespace dsm::kernels
