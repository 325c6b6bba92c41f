// AVX2 table (AVX2 + FMA + F16C): dot products of one weight row with one activation
// row and the activation conversions; the table's other entries come from
// gemm_avx2.cpp, gemm_float_avx2.cpp and attention_avx2.cpp.
//
// Integer parts: unsigned levels times signed activations with vpmaddubsw (every
// level here is below 64, so the 16-bit pair sums cannot saturate) and vpmaddwd to
// 32 bits; Q8_0 weights are signed and go through 16-bit vpmaddwd, exact for every
// byte value. Integer dots are exact like the scalar ones; only the float summation
// order differs from scalar_table().
//
// from_float: the scalar quantizers' arithmetic lane by lane (identical bytes).
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/fp16.hpp"
#include "kernels/kernels.hpp"
#include "kernels/x86/avx2.hpp"
#include "quant/blocks.hpp"
#include "quant/unpack.hpp"

namespace dsm::kernels {
namespace avx2 {

namespace {

// Keeps a product from being fused with a later add (the scalar reference, compiled
// without FMA, rounds the product first).
inline __m256 materialized(__m256 v) {
    asm("" : "+x"(v));
    return v;
}

inline float fp16(uint16_t h) { return _cvtsh_ss(h); }
inline __m256i bytes(int8_t v) { return _mm256_set1_epi8(v); }
inline __m256i load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }


// ---- plain float types: products exact in double, summed in double lanes.

template <typename T, typename Load8, typename ToFloat>
float dot_in_double(int64_t n, const void* w, const void* x, Load8 load8, ToFloat to_float) {
    const auto* a = static_cast<const T*>(w);
    const auto* b = static_cast<const T*>(x);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 va = load8(a + i), vb = load8(b + i);
        s0 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(va)), _mm256_cvtps_pd(_mm256_castps256_ps128(vb)), s0);
        s1 = _mm256_fmadd_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(va, 1)), _mm256_cvtps_pd(_mm256_extractf128_ps(vb, 1)),
                             s1);
    }
    double sum = hsum(_mm256_add_pd(s0, s1));
    for (; i < n; ++i) sum += double(to_float(a[i])) * double(to_float(b[i]));
    return float(sum);
}

void vec_dot_f32(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<float>(n, w, x, [](const float* p) { return _mm256_loadu_ps(p); }, [](float v) { return v; });
}
void vec_dot_f16(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<uint16_t>(n, w, x, [](const uint16_t* p) { return _mm256_cvtph_ps(load16(p)); }, fp16_to_f32);
}
void vec_dot_bf16(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_in_double<uint16_t>(
        n, w, x,
        [](const uint16_t* p) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(load16(p)), 16)); },
        bf16_to_f32);
}

// ---- 32-element blocks against Q8_0 / Q8_1 activations, one block per register.

// 8 lanes of sum(levels * x) (4 products each) for unsigned levels below 64.
inline __m256i dot_u8(__m256i levels, __m256i x) {
    return _mm256_madd_epi16(_mm256_maddubs_epi16(levels, x), _mm256_set1_epi16(1));
}

// 16 nibble bytes in element order: [low nibbles | high nibbles].
inline __m256i nibbles(const uint8_t* q) {
    const __m128i v = load16(q);
    const __m128i m = _mm_set1_epi8(0x0f);
    return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), m), _mm_and_si128(v, m));
}

// Adds 16 to the bytes whose bit is set in the 32-bit mask qh (bit e: element e).
inline __m256i add_fifth_bits(__m256i v, const uint8_t* qh) {
    uint32_t h;
    std::memcpy(&h, qh, 4);
    // Byte e takes byte e / 8 of the mask, then tests bit e % 8.
    const __m256i spread = _mm256_shuffle_epi8(_mm256_set1_epi32(int(h)),
                                               _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202,
                                                                  0x0303030303030303));
    const __m256i bit = _mm256_set1_epi64x(int64_t(0x8040201008040201));
    const __m256i set = _mm256_cmpeq_epi8(_mm256_and_si256(spread, bit), bit);
    return _mm256_add_epi8(v, _mm256_and_si256(set, bytes(16)));
}

template <typename Block, typename Levels>
float dot_biased_q8_0(int64_t n, const void* w, const void* x, int8_t bias, Levels levels) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; ++i) {
        const __m256i xv = load32(b[i].qs);
        const __m256i p = _mm256_sub_epi32(dot_u8(levels(a[i]), xv), dot_u8(bytes(bias), xv));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(fp16(a[i].d) * fp16(b[i].d)), acc);
    }
    return hsum(acc);
}

void vec_dot_q4_0(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_biased_q8_0<BlockQ4_0>(n, w, x, 8, [](const BlockQ4_0& b) { return nibbles(b.qs); });
}
void vec_dot_q5_0(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_biased_q8_0<BlockQ5_0>(n, w, x, 16,
                                      [](const BlockQ5_0& b) { return add_fifth_bits(nibbles(b.qs), b.qh); });
}

// Signed x signed in 16-bit lanes: exact for all byte values.
void vec_dot_q8_0(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ8_0*>(w);
    const auto* b = static_cast<const BlockQ8_0*>(x);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < n / 32; ++i) {
        const __m256i lo = _mm256_madd_epi16(_mm256_cvtepi8_epi16(load16(a[i].qs)), _mm256_cvtepi8_epi16(load16(b[i].qs)));
        const __m256i hi =
            _mm256_madd_epi16(_mm256_cvtepi8_epi16(load16(a[i].qs + 16)), _mm256_cvtepi8_epi16(load16(b[i].qs + 16)));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_add_epi32(lo, hi)), _mm256_set1_ps(fp16(a[i].d) * fp16(b[i].d)),
                              acc);
    }
    *out = hsum(acc);
}

template <typename Block, typename Levels>
float dot_q8_1(int64_t n, const void* w, const void* x, Levels levels) {
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_1*>(x);
    __m256 acc = _mm256_setzero_ps();
    float offsets = 0;
    for (int64_t i = 0; i < n / 32; ++i) {
        const __m256i p = dot_u8(levels(a[i]), load32(b[i].qs));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(p), _mm256_set1_ps(fp16(a[i].d) * fp16(b[i].d)), acc);
        offsets += fp16(a[i].m) * fp16(b[i].s);
    }
    return hsum(acc) + offsets;
}

void vec_dot_q4_1(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_1<BlockQ4_1>(n, w, x, [](const BlockQ4_1& b) { return nibbles(b.qs); });
}
void vec_dot_q5_1(int64_t n, float* out, const void* w, const void* x) {
    *out = dot_q8_1<BlockQ5_1>(n, w, x, [](const BlockQ5_1& b) { return add_fifth_bits(nibbles(b.qs), b.qh); });
}

// ---- k-quants against Q8_K: 32 levels per register, pair sums (vpmaddubsw) times the
// sub-block scale in 16 bits (vpmaddwd), exact.

// Scales for 32 elements as 16 int16 lanes: lanes 0..7 take s0, 8..15 take s1.
inline __m256i scale_pair(int s0, int s1) { return _mm256_set_m128i(_mm_set1_epi16(short(s1)), _mm_set1_epi16(short(s0))); }

inline __m256i scaled_dot(__m256i acc, __m256i levels, const int8_t* x, __m256i scales16) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(levels, load32(x)), scales16));
}

// sum_j c_j * bsums_j over the 16 sub-blocks (c: 16 int16).
inline int weighted_bsums(const BlockQ8_K& y, __m256i c16) {
    return hsum(_mm256_madd_epi16(load32(y.bsums), c16));
}

template <bool Q5>
float dot_q45_k(int64_t n, const void* w, const void* x) {
    using Block = std::conditional_t<Q5, BlockQ5_K, BlockQ4_K>;
    const auto* a = static_cast<const Block*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; ++j) quant_detail::k4_scale_min(a[i].scales, j, sc[j], mn[j]);
        __m256i isum = _mm256_setzero_si256();
        for (int c = 0; c < 4; ++c) {
            const __m256i q = load32(a[i].qs + 32 * c);
            __m256i lo = _mm256_and_si256(q, bytes(0x0f)), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), bytes(0x0f));
            if constexpr (Q5) {
                const __m256i qh = load32(a[i].qh);
                const __m256i b0 = _mm256_set1_epi8(char(1 << (2 * c))), b1 = _mm256_set1_epi8(char(2 << (2 * c)));
                lo = _mm256_add_epi8(lo, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b0), b0), bytes(16)));
                hi = _mm256_add_epi8(hi, _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(qh, b1), b1), bytes(16)));
            }
            isum = scaled_dot(isum, lo, b[i].qs + 64 * c, _mm256_set1_epi16(short(sc[2 * c])));
            isum = scaled_dot(isum, hi, b[i].qs + 64 * c + 32, _mm256_set1_epi16(short(sc[2 * c + 1])));
        }
        int mins = 0;
        for (int j = 0; j < 8; ++j) mins += mn[j] * (b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        const float d = fp16(a[i].d) * b[i].d;
        const float dmin = fp16(a[i].dmin) * b[i].d;
        sum += d * float(hsum(isum)) - dmin * float(mins);
    }
    return sum;
}

void vec_dot_q4_k(int64_t n, float* out, const void* w, const void* x) { *out = dot_q45_k<false>(n, w, x); }
void vec_dot_q5_k(int64_t n, float* out, const void* w, const void* x) { *out = dot_q45_k<true>(n, w, x); }

void vec_dot_q6_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ6_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(load16(a[i].scales));
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h) {
            const __m256i ql0 = load32(a[i].ql + 64 * h), ql1 = load32(a[i].ql + 64 * h + 32);
            const __m256i qh = load32(a[i].qh + 32 * h);
            for (int k = 0; k < 4; ++k) {
                // Element 128h + 32k + l: nibble k / 2 of ql[64h + 32 (k % 2) + l], bits 2k of qh[32h + l].
                const __m256i ql = k % 2 ? ql1 : ql0;
                const __m256i low = _mm256_and_si256(k / 2 ? _mm256_srli_epi16(ql, 4) : ql, bytes(0x0f));
                const __m256i high = _mm256_and_si256(_mm256_srli_epi16(qh, 2 * k), bytes(3));
                const __m256i levels = _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
                const int j = 8 * h + 2 * k;
                isum = scaled_dot(isum, levels, b[i].qs + 128 * h + 32 * k, scale_pair(a[i].scales[j], a[i].scales[j + 1]));
            }
        }
        const int scaled = hsum(isum) - 32 * weighted_bsums(b[i], sc16);
        sum += fp16(a[i].d) * b[i].d * float(scaled);
    }
    *out = sum;
}

// Q2_K / Q3_K: element 128h + 32k + l in bits 2k of qs[32h + l].
inline __m256i two_bits(const uint8_t* qs, int h, int k) {
    return _mm256_and_si256(_mm256_srli_epi16(load32(qs + 32 * h), 2 * k), bytes(3));
}

void vec_dot_q2_k(int64_t n, float* out, const void* w, const void* x) {
    const auto* a = static_cast<const BlockQ2_K*>(w);
    const auto* b = static_cast<const BlockQ8_K*>(x);
    float sum = 0;
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k) {
                const int j = 8 * h + 2 * k;
                isum = scaled_dot(isum, two_bits(a[i].qs, h, k), b[i].qs + 128 * h + 32 * k,
                                  scale_pair(a[i].scales[j] & 0x0f, a[i].scales[j + 1] & 0x0f));
            }
        const __m256i m16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(load16(a[i].scales), 4), _mm_set1_epi8(0x0f)));
        const float dall = b[i].d * fp16(a[i].d);
        const float dmin = b[i].d * fp16(a[i].dmin);
        sum += dall * float(hsum(isum)) - dmin * float(weighted_bsums(b[i], m16));
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
        const __m256i hm = load32(a[i].hmask);
        __m256i isum = _mm256_setzero_si256();
        for (int h = 0; h < 2; ++h)
            for (int k = 0; k < 4; ++k) {
                // + 4 where hmask bit 4h + k is set: levels 0..7 with bias 4.
                const __m256i bit = _mm256_set1_epi8(char(1 << (4 * h + k)));
                const __m256i high = _mm256_and_si256(_mm256_cmpeq_epi8(_mm256_and_si256(hm, bit), bit), bytes(4));
                const int j = 8 * h + 2 * k;
                isum = scaled_dot(isum, _mm256_add_epi8(two_bits(a[i].qs, h, k), high), b[i].qs + 128 * h + 32 * k,
                                  scale_pair(sc[j], sc[j + 1]));
            }
        const int scaled = hsum(isum) - 4 * weighted_bsums(b[i], _mm256_cvtepi8_epi16(load16(sc)));
        sum += fp16(a[i].d) * b[i].d * float(scaled);
    }
    *out = sum;
}

// ---- activation conversions (bit-identical to the scalar ones).

// nearest_int (quant/unpack.hpp) of 8 products, clamped to [-128, 127].
inline __m256i quantize8(__m256 x, __m256 scale) {
    const __m256 shifted = _mm256_add_ps(materialized(_mm256_mul_ps(x, scale)), _mm256_set1_ps(12582912.f));
    const __m256i r = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(shifted), _mm256_set1_epi32(0x007fffff)),
                                       _mm256_set1_epi32(0x00400000));
    return _mm256_min_epi32(_mm256_max_epi32(r, _mm256_set1_epi32(-128)), _mm256_set1_epi32(127));
}

inline __m256 abs_ps(__m256 v) { return _mm256_and_ps(v, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff))); }
// max(m, |v|) keeping m where v is NaN (vmaxps returns its second operand then).
inline __m256 max_abs(__m256 m, __m256 v) { return _mm256_max_ps(abs_ps(v), m); }
inline float hmax(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_max_ss(s, _mm_movehdup_ps(s)));
}

// 32 int32 in [-128, 127] (four registers) to bytes in order.
inline void store_bytes(int8_t* dst, __m256i a, __m256i b, __m256i c, __m256i d) {
    const __m256i ab = _mm256_packs_epi32(a, b), cd = _mm256_packs_epi32(c, d);
    const __m256i v = _mm256_packs_epi16(ab, cd);  // lane-interleaved: fix the dword order
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(dst),
                        _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

inline float q8_block(const float* x, uint16_t& d_out, int8_t* qs, int& sum) {
    __m256 v[4], m = _mm256_setzero_ps();
    for (int k = 0; k < 4; ++k) m = max_abs(m, v[k] = _mm256_loadu_ps(x + 8 * k));
    const float amax = hmax(m);
    const float d = amax / 127.f;
    const float id = amax != 0.0f ? 127.f / amax : 0.0f;
    d_out = f32_to_fp16(d);
    __m256i q[4];
    for (int k = 0; k < 4; ++k) q[k] = quantize8(v[k], _mm256_set1_ps(id));
    store_bytes(qs, q[0], q[1], q[2], q[3]);
    sum = hsum(_mm256_add_epi32(_mm256_add_epi32(q[0], q[1]), _mm256_add_epi32(q[2], q[3])));
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
        __m256 m = _mm256_setzero_ps();
        for (int k = 0; k < 32; ++k) m = max_abs(m, _mm256_loadu_ps(x + 8 * k));
        const float amax = hmax(m);
        if (amax == 0) {
            std::memset(&b[i], 0, sizeof(BlockQ8_K));
            continue;
        }
        float max = 0;  // the value of largest magnitude, first on ties
        for (int j = 0; j < kQK_K; ++j)
            if (std::fabs(x[j]) == amax) {
                max = x[j];
                break;
            }
        const float iscale = -127.f / max;
        for (int g = 0; g < 8; ++g) {
            __m256i q[4];
            for (int k = 0; k < 4; ++k) q[k] = quantize8(_mm256_loadu_ps(x + 32 * g + 8 * k), _mm256_set1_ps(iscale));
            store_bytes(b[i].qs + 32 * g, q[0], q[1], q[2], q[3]);
            b[i].bsums[2 * g] = int16_t(hsum(_mm256_add_epi32(q[0], q[1])));
            b[i].bsums[2 * g + 1] = int16_t(hsum(_mm256_add_epi32(q[2], q[3])));
        }
        b[i].d = 1 / iscale;
    }
}

void from_float_f16(const float* x, void* y, int64_t n) {
    auto* h = static_cast<uint16_t*>(y);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        __m128i r = _mm256_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT);
        if (_mm256_movemask_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q))) {
            // NaN: the scalar conversion gives sign | 0x7e00 whatever the payload.
            alignas(16) uint16_t tmp[8];
            _mm_store_si128(reinterpret_cast<__m128i*>(tmp), r);
            for (int k = 0; k < 8; ++k)
                if (std::isnan(x[i + k])) tmp[k] = f32_to_fp16(x[i + k]);
            r = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
        }
        _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), r);
    }
    for (; i < n; ++i) h[i] = f32_to_fp16(x[i]);
}

void from_float_bf16(const float* x, void* y, int64_t n) {
    auto* h = static_cast<uint16_t*>(y);
    int64_t i = 0;
    const __m256i one = _mm256_set1_epi32(1);
    for (; i + 8 <= n; i += 8) {
        const __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        const __m256i rounded = _mm256_srli_epi32(
            _mm256_add_epi32(u, _mm256_add_epi32(_mm256_set1_epi32(0x7fff), _mm256_and_si256(_mm256_srli_epi32(u, 16), one))),
            16);
        const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff)), _mm256_set1_epi32(0x7f800000));
        const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
        const __m256i r = _mm256_blendv_epi8(rounded, quiet, nan);
        const __m128i packed = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128(reinterpret_cast<__m128i*>(h + i), packed);
    }
    for (; i < n; ++i) h[i] = f32_to_bf16(x[i]);
}

KernelTable make_table() {
    KernelTable t;
    t.isa = "avx2";
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
    set_float_gemm_kernels(t);
    set_layer_kernels(t);
    return t;
}

}  // namespace
}  // namespace avx2

const KernelTable& avx2_table() {
    static const KernelTable table = avx2::make_table();
    return table;
}

}  // namespace dsm::kernels
