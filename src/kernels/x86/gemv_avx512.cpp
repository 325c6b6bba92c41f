// AVX-512 VNNI matrix-vector products for decode (one token), where a weight row is
// read once: the activation row is rearranged once per product ("prepared") so
// that each weight row needs the fewest instructions per byte.
//
// Q4_0: four blocks per register. The 4 x 16 packed bytes load as they are; their
// low nibbles are the blocks' elements 0..15 and the high nibbles 16..31, so the
// prepared activations hold the matching halves (lo = x[0..16) of the 4 blocks,
// hi = x[16..32)) and the per-lane start value -8 * (sum of the lane's 8 values).
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

// ---- Q4_K: two registers of packed bytes per super-block, loaded as they are. The
// low nibbles of bytes [0, 64) are sub-blocks 0 and 2, their high nibbles 1 and 3,
// and likewise for bytes [64, 128) with 4, 6 and 5, 7; the prepared activations hold
// the matching 64-byte halves, then the 8 sub-block sums of the mins term and d.
struct PreparedQ4K {
    int8_t x[4][64];  // sub-blocks (0, 2), (1, 3), (4, 6), (5, 7)
    int16_t sums[8];
    float d;
    int32_t pad[3];
};
static_assert(sizeof(PreparedQ4K) == 288);

void prepare_q4_k(int64_t n, const void* x, void* prepared) {
    const auto* b = static_cast<const BlockQ8_K*>(x);
    auto* p = static_cast<PreparedQ4K*>(prepared);
    for (int64_t i = 0; i < n / kQK_K; ++i) {
        for (int part = 0; part < 4; ++part) {
            const int first = 2 * (part / 2) * 2 + part % 2;  // 0, 1, 4, 5
            std::memcpy(p[i].x[part], b[i].qs + 32 * first, 32);
            std::memcpy(p[i].x[part] + 32, b[i].qs + 32 * (first + 2), 32);
        }
        for (int j = 0; j < 8; ++j) p[i].sums[j] = int16_t(b[i].bsums[2 * j] + b[i].bsums[2 * j + 1]);
        p[i].d = b[i].d;
        std::memset(p[i].pad, 0, sizeof(p[i].pad));
    }
}

// The 8 6-bit scales (bytes 0..7) and mins (bytes 8..15) of a Q4_K block.
inline __m128i k4_scales_mins(const uint8_t* packed) {
    uint32_t a, b, c;
    std::memcpy(&a, packed, 4);
    std::memcpy(&b, packed + 4, 4);
    std::memcpy(&c, packed + 8, 4);
    const uint32_t sc_hi = (c & 0x0f0f0f0fu) | ((a >> 2) & 0x30303030u);
    const uint32_t m_hi = ((c >> 4) & 0x0f0f0f0fu) | ((b >> 2) & 0x30303030u);
    return _mm_setr_epi32(int(a & 0x3f3f3f3fu), int(sc_hi), int(b & 0x3f3f3f3fu), int(m_hi));
}

// Each dpbusd leaves 8 lanes per sub-block of sums of 4 products (|sum| <= 15 * 128 * 4,
// so they fit 16 bits). Packing two such results to 16-bit words (vpackssdw, exact)
// lets one vpdpwssd apply both sub-blocks' scales: per 128-bit lane k the packed words
// are [first lanes 4k..4k+3 | second lanes 4k..4k+3], i.e. sub-blocks (0, 1) for k < 2
// and (2, 3) for k >= 2 of a (0, 2) / (1, 3) pair. The scale words come from one byte
// shuffle of the 8 scales: lanes 0, 1 take (s0, s1), lanes 2, 3 (s2, s3) for the first
// pair of parts; (s4, s5) / (s6, s7) for the second.
constexpr auto kScaleWords = [] {
    struct alignas(64) Rows {
        int8_t idx[2][64];
        constexpr const int8_t* operator[](int i) const { return idx[i]; }
    } t{};
    for (int half = 0; half < 2; ++half)
        for (int k = 0; k < 4; ++k)
            for (int i = 0; i < 8; ++i) {
                t.idx[half][16 * k + 2 * i] = int8_t(4 * half + (k < 2 ? 0 : 2) + (i < 4 ? 0 : 1));
                t.idx[half][16 * k + 2 * i + 1] = int8_t(-128);  // 0x80: a zero high byte
            }
    return t;
}();

float row_q4_k(const BlockQ4_K* w, int64_t nb, const PreparedQ4K* x) {
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const __m512i idx_lo = _mm512_load_si512(kScaleWords[0]), idx_hi = _mm512_load_si512(kScaleWords[1]);
    __m512 acc = _mm512_setzero_ps();
    __m128 acc_min = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; ++i) {
        const __m128i sm = k4_scales_mins(w[i].scales);
        const __m512i sm4 = _mm512_broadcast_i32x4(sm);
        const __m512i a = _mm512_loadu_si512(w[i].qs), b = _mm512_loadu_si512(w[i].qs + 64);
        const __m512i zero = _mm512_setzero_si512();
        const __m512i d0 = _mm512_dpbusd_epi32(zero, _mm512_and_si512(a, m4), _mm512_loadu_si512(x[i].x[0]));
        const __m512i d1 = _mm512_dpbusd_epi32(zero, _mm512_and_si512(_mm512_srli_epi16(a, 4), m4), _mm512_loadu_si512(x[i].x[1]));
        const __m512i d2 = _mm512_dpbusd_epi32(zero, _mm512_and_si512(b, m4), _mm512_loadu_si512(x[i].x[2]));
        const __m512i d3 = _mm512_dpbusd_epi32(zero, _mm512_and_si512(_mm512_srli_epi16(b, 4), m4), _mm512_loadu_si512(x[i].x[3]));
        __m512i isum = _mm512_dpwssd_epi32(zero, _mm512_packs_epi32(d0, d1), _mm512_shuffle_epi8(sm4, idx_lo));
        isum = _mm512_dpwssd_epi32(isum, _mm512_packs_epi32(d2, d3), _mm512_shuffle_epi8(sm4, idx_hi));
        const __m128i mins = _mm_madd_epi16(_mm_cvtepu8_epi16(_mm_srli_si128(sm, 8)),
                                            _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].sums)));
        const __m128 dd = _mm_mul_ps(_mm_cvtph_ps(_mm_cvtsi32_si128(int(uint32_t(w[i].d) | uint32_t(w[i].dmin) << 16))),
                                     _mm_set1_ps(x[i].d));  // [d, dmin] * d_x
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_broadcastss_ps(dd), acc);
        acc_min = _mm_fmadd_ps(_mm_cvtepi32_ps(mins), _mm_shuffle_ps(dd, dd, 0x55), acc_min);
    }
    const __m128 m2 = _mm_add_ps(acc_min, _mm_movehl_ps(acc_min, acc_min));
    return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(_mm_add_ss(m2, _mm_movehdup_ps(m2)));
}

void gemv_q4_k(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
               size_t x_stride, float* out, int64_t out_stride) {
    const auto* wp = static_cast<const uint8_t*>(w);
    const auto* xp = static_cast<const uint8_t*>(x);
    for (int64_t r = 0; r < n_rows; ++r) {
        const auto* row = reinterpret_cast<const BlockQ4_K*>(wp + size_t(r) * w_stride);
        for (int64_t t = 0; t < n_tokens; ++t)
            out[t * out_stride + r] = row_q4_k(row, n / kQK_K, reinterpret_cast<const PreparedQ4K*>(xp + size_t(t) * x_stride));
    }
}

}  // namespace

void set_gemv_kernels(KernelTable& t) {
    t.gemv[int(DType::Q4_0)] = GemmKernel{gemv_q4_0, prepare_q4_0, uint32_t(kGroupBytes / 4), 1, 1};
    t.gemv[int(DType::Q4_K)] = GemmKernel{gemv_q4_k, prepare_q4_k, uint32_t(sizeof(PreparedQ4K)), 1, 1};
}

}  // namespace dsm::kernels::avx512
