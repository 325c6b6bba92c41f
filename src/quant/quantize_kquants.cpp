// k-quant quantizers (Q2_K..Q6_K). Each super-block of 256 values is split into
// sub-blocks of 16 or 32; every sub-block gets its own fitted scale (and min),
// then the sub-block scales are themselves quantized against one fp16 scale per
// super-block, and finally every value is re-rounded against the scale it will
// really be decoded with. Without importance the steps and float arithmetic are
// those of ggml's reference quantizers (so llama-quantize's bytes are
// reproduced); with importance those of its importance-matrix path.
#include <cmath>
#include <cstring>

#include "core/fp16.hpp"
#include "quant/fit.hpp"
#include "quant/kquants.hpp"
#include "quant/unpack.hpp"

namespace dsm::quant_detail {
namespace {

inline int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

float sum_squares(const float* x, int n) {
    float s = 0;
    for (int i = 0; i < n; ++i) s += x[i] * x[i];
    return s;
}

// Importance weights of n values: imp * sqrt(sigma2 + x^2); returns their sum.
float importance_weights(const float* x, const float* imp, float sigma2, int n, float* w) {
    float sum = 0;
    for (int l = 0; l < n; ++l) w[l] = imp[l] * std::sqrt(sigma2 + x[l] * x[l]);
    for (int l = 0; l < n; ++l) sum += w[l];
    return sum;
}

// Packs 256 2-bit levels: byte l of each 32-byte half holds elements l, l+32,
// l+64 and l+96 of that half in bit pairs 0, 2, 4, 6.
void pack_2bit(const uint8_t* L, uint8_t* qs) {
    for (int half = 0; half < 2; ++half) {
        const uint8_t* l = L + 128 * half;
        for (int j = 0; j < 32; ++j)
            qs[32 * half + j] = uint8_t(l[j] | (l[j + 32] << 2) | (l[j + 64] << 4) | (l[j + 96] << 6));
    }
}

// ---------------------------------------------------------------- Q2_K

// Re-rounds every value against its decoded scale and min.
void q2k_requantize(const float* x, const BlockQ2_K& b, uint8_t* L) {
    const float d_all = fp16_to_f32(b.d), m_all = fp16_to_f32(b.dmin);
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * float(b.scales[j] & 0x0f);
        if (!d) continue;
        const float m = m_all * float(b.scales[j] >> 4);
        for (int i = 0; i < 16; ++i) L[16 * j + i] = uint8_t(clamp_int(nearest_int((x[16 * j + i] + m) / d), 0, 3));
    }
}

void q2k_block_ref(const float* x, BlockQ2_K& b) {
    uint8_t L[256];
    float weights[16], scales[16], mins[16];
    float max_scale = 0, max_min = 0;  // scales and mins are >= 0 here
    for (int j = 0; j < 16; ++j) {
        for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
        scales[j] = fit_affine(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.5f, 0.1f, 15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    std::memset(b.scales, 0, sizeof b.scales);
    b.d = f32_to_fp16(0.f);
    b.dmin = f32_to_fp16(0.f);
    if (max_scale > 0) {
        const float iscale = 15.f / max_scale;
        for (int j = 0; j < 16; ++j) b.scales[j] = uint8_t(clamp_int(nearest_int(iscale * scales[j]), 0, 15));
        b.d = f32_to_fp16(max_scale / 15.f);
    }
    if (max_min > 0) {
        const float iscale = 15.f / max_min;
        for (int j = 0; j < 16; ++j)
            b.scales[j] = uint8_t(b.scales[j] | (clamp_int(nearest_int(iscale * mins[j]), 0, 15) << 4));
        b.dmin = f32_to_fp16(max_min / 15.f);
    }
    q2k_requantize(x, b, L);
    pack_2bit(L, b.qs);
}

void q2k_block_weighted(const float* x, const float* imp, BlockQ2_K& b) {
    uint8_t L[256], Ls[16], Lm[16];
    float weights[16], scales[16], mins[16], sw[16];
    const float sigma2 = sum_squares(x, 256) / 256;
    for (int j = 0; j < 16; ++j) {
        sw[j] = importance_weights(x + 16 * j, imp + 16 * j, sigma2, 16, weights);
        scales[j] = fit_affine(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], -0.9f, 0.05f, 36, false);
    }
    const float dm = fit_positive(16, 15, scales, sw, Ls);
    const float mm = fit_positive(16, 15, mins, sw, Lm);
    b.d = f32_to_fp16(dm);
    b.dmin = f32_to_fp16(mm);
    for (int j = 0; j < 16; ++j) b.scales[j] = uint8_t(Ls[j] | (Lm[j] << 4));
    q2k_requantize(x, b, L);
    pack_2bit(L, b.qs);
}

// ---------------------------------------------------------------- Q3_K

// Re-rounds against the decoded scales, splits off the high bit into hmask
// (bit e/32 of byte e%32) and packs the low 2 bits.
void q3k_finish(const float* x, BlockQ3_K& b, int8_t* L) {
    const float d_all = fp16_to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * float(q3k_scale(b.scales, j));
        if (!d) continue;
        for (int i = 0; i < 16; ++i) L[16 * j + i] = int8_t(clamp_int(nearest_int(x[16 * j + i] / d), -4, 3) + 4);
    }
    std::memset(b.hmask, 0, sizeof b.hmask);
    uint8_t low[256];
    for (int e = 0; e < 256; ++e) {
        int l = L[e];
        if (l > 3) {
            b.hmask[e % 32] = uint8_t(b.hmask[e % 32] | (1u << (e / 32)));
            l -= 4;
        }
        low[e] = uint8_t(l);
    }
    pack_2bit(low, b.qs);
}

void q3k_block_ref(const float* x, BlockQ3_K& b) {
    int8_t L[256];
    float scales[16];
    float max_scale = 0, amax = 0;
    for (int j = 0; j < 16; ++j) {
        scales[j] = fit_symmetric_iterative(16, 4, x + 16 * j, L + 16 * j);
        const float a = std::fabs(scales[j]);
        if (a > amax) {
            amax = a;
            max_scale = scales[j];
        }
    }
    uint8_t biased[16] = {};
    b.d = f32_to_fp16(0.f);
    if (max_scale != 0) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < 16; ++j) biased[j] = uint8_t(clamp_int(nearest_int(iscale * scales[j]), -32, 31) + 32);
        b.d = f32_to_fp16(1 / iscale);
    }
    q3k_pack_scales(biased, b.scales);
    q3k_finish(x, b, L);
}

void q3k_block_weighted(const float* x, const float* imp, BlockQ3_K& b) {
    int8_t L[256], Ls[16];
    float weights[16], scales[16], sw[16];
    const float sigma2 = 2 * sum_squares(x, 256) / 256;
    for (int j = 0; j < 16; ++j) {
        sw[j] = importance_weights(x + 16 * j, imp + 16 * j, sigma2, 16, weights);
        scales[j] = fit_symmetric(16, 4, x + 16 * j, weights, L + 16 * j);
    }
    const float d_block = fit_symmetric(16, 32, scales, sw, Ls);
    uint8_t biased[16];
    for (int j = 0; j < 16; ++j) biased[j] = uint8_t(Ls[j]);
    q3k_pack_scales(biased, b.scales);
    b.d = f32_to_fp16(d_block);
    q3k_finish(x, b, L);
}

// ---------------------------------------------------------------- Q4_K / Q5_K
// Both have 8 sub-blocks of 32 with 6-bit scales and mins; they differ in the
// number of levels (15 / 31), the search parameters and the bit packing.

struct KParams {
    int nmax;
    float rmin, rdelta;
    int nstep;
};
constexpr KParams kQ4Ref{15, -1.f, 0.1f, 20};
constexpr KParams kQ5Ref{31, -0.5f, 0.1f, 15};
constexpr KParams kWeighted4{15, -0.9f, 0.05f, 36};
constexpr KParams kWeighted5{31, -0.9f, 0.05f, 36};

// Header (d, dmin, 12 scale bytes) of a Q4_K / Q5_K block after the sub-block fits.
struct KHeader {
    uint16_t d, dmin;
    uint8_t scales[12];
};

// Sub-block fits with the default weighting sqrt(mean x^2) + |x|, then scales and
// mins quantized to 6 bits against their maxima.
KHeader k4_header_ref(const float* x, const KParams& p, uint8_t* L) {
    float weights[32], scales[8], mins[8];
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; ++j) {
        const float* xs = x + 32 * j;
        const float av_x = std::sqrt(sum_squares(xs, 32) / 32);
        for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(xs[l]);
        scales[j] = fit_affine(32, p.nmax, xs, weights, L + 32 * j, &mins[j], p.rmin, p.rdelta, p.nstep, false);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; ++j) {
        ls[j] = uint8_t(clamp_int(nearest_int(inv_scale * scales[j]), 0, 63));
        lm[j] = uint8_t(clamp_int(nearest_int(inv_min * mins[j]), 0, 63));
    }
    KHeader h;
    k4_pack_scales(ls, lm, h.scales);
    h.d = f32_to_fp16(max_scale / 63.f);
    h.dmin = f32_to_fp16(max_min / 63.f);
    return h;
}

// Sub-block fits with importance weights, then scales and mins quantized by a
// weighted fit of their own.
KHeader k4_header_weighted(const float* x, const float* imp, const KParams& p, uint8_t* L) {
    float weights[32], scales[8], mins[8], sw[8];
    const float sigma2 = 2 * sum_squares(x, 256) / 256;
    for (int j = 0; j < 8; ++j) {
        sw[j] = importance_weights(x + 32 * j, imp + 32 * j, sigma2, 32, weights);
        scales[j] = fit_affine(32, p.nmax, x + 32 * j, weights, L + 32 * j, &mins[j], p.rmin, p.rdelta, p.nstep, false);
    }
    uint8_t ls[8], lm[8];
    const float d_block = fit_positive(8, 63, scales, sw, ls);
    const float m_block = fit_positive(8, 63, mins, sw, lm);
    KHeader h;
    k4_pack_scales(ls, lm, h.scales);
    h.d = f32_to_fp16(d_block);
    h.dmin = f32_to_fp16(m_block);
    return h;
}

// Re-rounds every value against its decoded sub-block scale and min.
void k4_requantize(const float* x, const KHeader& h, int nmax, uint8_t* L) {
    const float d_all = fp16_to_f32(h.d), m_all = fp16_to_f32(h.dmin);
    for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        k4_scale_min(h.scales, j, sc, m);
        const float d = d_all * float(sc);
        if (!d) continue;
        const float dm = m_all * float(m);
        for (int i = 0; i < 32; ++i) L[32 * j + i] = uint8_t(clamp_int(nearest_int((x[32 * j + i] + dm) / d), 0, nmax));
    }
}

void q4k_store(const float* x, const KHeader& h, uint8_t* L, BlockQ4_K& b) {
    b.d = h.d;
    b.dmin = h.dmin;
    std::memcpy(b.scales, h.scales, 12);
    k4_requantize(x, h, 15, L);
    for (int chunk = 0; chunk < 4; ++chunk)
        for (int l = 0; l < 32; ++l)
            b.qs[32 * chunk + l] = uint8_t(L[64 * chunk + l] | (L[64 * chunk + l + 32] << 4));
}

void q5k_store(const float* x, const KHeader& h, uint8_t* L, BlockQ5_K& b) {
    b.d = h.d;
    b.dmin = h.dmin;
    std::memcpy(b.scales, h.scales, 12);
    k4_requantize(x, h, 31, L);
    std::memset(b.qh, 0, sizeof b.qh);
    for (int chunk = 0; chunk < 4; ++chunk) {
        for (int l = 0; l < 32; ++l) {
            const int lo = L[64 * chunk + l], hi = L[64 * chunk + l + 32];
            b.qs[32 * chunk + l] = uint8_t((lo & 0x0f) | ((hi & 0x0f) << 4));
            b.qh[l] = uint8_t(b.qh[l] | ((lo >> 4) << (2 * chunk)) | ((hi >> 4) << (2 * chunk + 1)));
        }
    }
}

// ---------------------------------------------------------------- Q6_K

void q6k_block(const float* x, const float* imp, BlockQ6_K& b) {
    int8_t L[256];
    float scales[16];
    float max_scale = 0, max_abs_scale = 0;
    for (int j = 0; j < 16; ++j) {
        // Q6_K uses the importance values themselves as weights (x^2 without).
        scales[j] = fit_symmetric(16, 32, x + 16 * j, imp ? imp + 16 * j : nullptr, L + 16 * j);
        const float a = std::fabs(scales[j]);
        if (a > max_abs_scale) {
            max_abs_scale = a;
            max_scale = scales[j];
        }
    }
    if (max_abs_scale < 1e-15f) {
        std::memset(&b, 0, sizeof b);
        return;
    }
    const float iscale = -128.f / max_scale;
    b.d = f32_to_fp16(1 / iscale);
    for (int j = 0; j < 16; ++j) b.scales[j] = int8_t(clamp_int(nearest_int(iscale * scales[j]), -128, 127));
    const float d_all = fp16_to_f32(b.d);
    for (int j = 0; j < 16; ++j) {
        const float d = d_all * float(b.scales[j]);
        if (!d) continue;
        for (int i = 0; i < 16; ++i) L[16 * j + i] = int8_t(clamp_int(nearest_int(x[16 * j + i] / d), -32, 31) + 32);
    }
    // Per 128-half: ql[l] = elements l | l+64 (nibbles), ql[l+32] = l+32 | l+96,
    // qh[l] = high bit pairs of l, l+32, l+64, l+96.
    for (int half = 0; half < 2; ++half) {
        const int8_t* l6 = L + 128 * half;
        uint8_t* ql = b.ql + 64 * half;
        uint8_t* qh = b.qh + 32 * half;
        for (int l = 0; l < 32; ++l) {
            ql[l] = uint8_t((l6[l] & 0x0f) | ((l6[l + 64] & 0x0f) << 4));
            ql[l + 32] = uint8_t((l6[l + 32] & 0x0f) | ((l6[l + 96] & 0x0f) << 4));
            qh[l] = uint8_t((l6[l] >> 4) | ((l6[l + 32] >> 4) << 2) | ((l6[l + 64] >> 4) << 4) | ((l6[l + 96] >> 4) << 6));
        }
    }
}

// Runs block_fn(x, imp_or_null, block) over nb super-blocks, sanitizing importance.
template <typename Block, typename Fn>
void for_each_superblock(const float* x, Block* y, int64_t nb, const float* importance, Fn block_fn) {
    float imp[256];
    for (int64_t i = 0; i < nb; ++i) {
        const bool weighted = importance && sanitize_importance(importance + 256 * i, 256, imp);
        block_fn(x + 256 * i, weighted ? imp : nullptr, y[i]);
    }
}

}  // namespace

void quantize_q2_k(const float* x, BlockQ2_K* y, int64_t nb, const float* importance) {
    for_each_superblock(x, y, nb, importance, [](const float* xb, const float* imp, BlockQ2_K& b) {
        imp ? q2k_block_weighted(xb, imp, b) : q2k_block_ref(xb, b);
    });
}

void quantize_q3_k(const float* x, BlockQ3_K* y, int64_t nb, const float* importance) {
    for_each_superblock(x, y, nb, importance, [](const float* xb, const float* imp, BlockQ3_K& b) {
        imp ? q3k_block_weighted(xb, imp, b) : q3k_block_ref(xb, b);
    });
}

void quantize_q4_k(const float* x, BlockQ4_K* y, int64_t nb, const float* importance) {
    for_each_superblock(x, y, nb, importance, [](const float* xb, const float* imp, BlockQ4_K& b) {
        uint8_t L[256];
        const KHeader h = imp ? k4_header_weighted(xb, imp, kWeighted4, L) : k4_header_ref(xb, kQ4Ref, L);
        q4k_store(xb, h, L, b);
    });
}

void quantize_q5_k(const float* x, BlockQ5_K* y, int64_t nb, const float* importance) {
    for_each_superblock(x, y, nb, importance, [](const float* xb, const float* imp, BlockQ5_K& b) {
        uint8_t L[256];
        const KHeader h = imp ? k4_header_weighted(xb, imp, kWeighted5, L) : k4_header_ref(xb, kQ5Ref, L);
        q5k_store(xb, h, L, b);
    });
}

void quantize_q6_k(const float* x, BlockQ6_K* y, int64_t nb, const float* importance) {
    for_each_superblock(x, y, nb, importance,
                        [](const float* xb, const float* imp, BlockQ6_K& b) { q6k_block(xb, imp, b); });
}

}  // namespace dsm::quant_detail
