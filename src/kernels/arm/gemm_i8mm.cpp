// ARMv8.6 int8 matrix multiply table: the dotprod table with its prompt tiles done
// by vmmlaq_s32 (smmla), which multiplies a 2 x 8 block of two weight rows by an
// 8 x 2 block of two tokens into a 2 x 2 int32 tile: 32 products per instruction,
// twice sdot's.
//
// A 4-row tile is repacked as 2 row pairs, each 16-byte register holding 8
// consecutive levels of both rows; token pairs are combined from two 8-byte loads.
// Accumulator lanes are [row0 tok0, row0 tok1, row1 tok0, row1 tok1]; odd token
// counts repeat the last token and drop its copy's results.
#include <arm_neon.h>

#include "kernels/arm/arm.hpp"
#include "kernels/arm/arm_gemm.hpp"

namespace dsm::kernels {
namespace arm {
namespace {

constexpr int kMaxPairs = 2;  // tokens per kernel call: 2 pairs

// Places n levels of row r (0..3) as steps of 8 at [step][pair][row in pair][8].
inline void put_steps(uint8_t* dst, int r, const int8_t* levels, int n) {
    for (int s = 0; s < n / 8; ++s) std::memcpy(dst + 32 * s + 16 * (r / 2) + 8 * (r % 2), levels + 8 * s, 8);
}

// Per-lane [v[2p], v[2p], v[2p + 1], v[2p + 1]] for row pair p of a 4-row vector.
inline float32x4_t row_pair(float32x4_t v, int p) { return p == 0 ? vzip1q_f32(v, v) : vzip2q_f32(v, v); }
inline int32x4_t row_pair(int32x4_t v, int p) { return p == 0 ? vzip1q_s32(v, v) : vzip2q_s32(v, v); }

// Writes a [r0 t0, r0 t1, r1 t0, r1 t1] tile (rows 2p, 2p + 1; tokens t0, t0 + 1).
inline void store_tile(float* out, int64_t out_stride, float32x4_t v, int p, int rows, int tokens) {
    float tmp[4];
    vst1q_f32(tmp, v);
    for (int i = 0; i < 4; ++i) {
        const int r = 2 * p + i / 2, t = i % 2;
        if (r < rows && t < tokens) out[t * out_stride + r] = tmp[i];
    }
}

// Two tokens' 8 bytes at offset `at` of their activation rows as one register.
inline int8x16_t token_pair(const int8_t* a, const int8_t* b, int at) {
    return vcombine_s8(vld1_s8(a + at), vld1_s8(b + at));
}

// ---- Q4_0 / Q8_0: tile block = levels [4 steps][2 pairs][2 rows][8], float d[4].
template <int NP>
void legacy_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, int tokens, float* out,
                   int64_t out_stride, int rows) {
    float32x4_t acc[NP][2];
    for (int tp = 0; tp < NP; ++tp) acc[tp][0] = acc[tp][1] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; ++b, tile += kLegacyBytes) {
        int8x16_t w[4][2];
        for (int s = 0; s < 4; ++s)
            for (int p = 0; p < 2; ++p) w[s][p] = vld1q_s8(reinterpret_cast<const int8_t*>(tile) + 32 * s + 16 * p);
        const float32x4_t dw = vld1q_f32(reinterpret_cast<const float*>(tile + 128));
        for (int tp = 0; tp < NP; ++tp) {
            const int t0 = 2 * tp, t1 = std::min(2 * tp + 1, tokens - 1);
            const PreparedQ8_0& xa = reinterpret_cast<const PreparedQ8_0*>(x + size_t(t0) * x_stride)[b];
            const PreparedQ8_0& xb = reinterpret_cast<const PreparedQ8_0*>(x + size_t(t1) * x_stride)[b];
            const float dxv[4] = {xa.d, xb.d, xa.d, xb.d};
            const float32x4_t dx = vld1q_f32(dxv);
            for (int p = 0; p < 2; ++p) {
                int32x4_t s = vdupq_n_s32(0);
                for (int st = 0; st < 4; ++st) s = vmmlaq_s32(s, w[st][p], token_pair(xa.qs, xb.qs, 8 * st));
                acc[tp][p] = vfmaq_f32(acc[tp][p], vcvtq_f32_s32(s), vmulq_f32(row_pair(dw, p), dx));
            }
        }
    }
    for (int tp = 0; tp < NP; ++tp)
        for (int p = 0; p < 2; ++p)
            store_tile(out + 2 * tp * out_stride, out_stride, acc[tp][p], p, rows, std::min(2, tokens - 2 * tp));
}

// ---- Q4_K: levels [8 sub-blocks][4 steps][2 pairs][2 rows][8], int32 scales [8][4],
// mins [8][4], float d[4], dmin[4].
template <int NP>
void q4_k_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, int tokens, float* out,
                 int64_t out_stride, int rows) {
    float32x4_t acc[NP][2];
    for (int tp = 0; tp < NP; ++tp) acc[tp][0] = acc[tp][1] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; ++b, tile += kK4Bytes) {
        const BlockQ8_K* xa[NP];
        const BlockQ8_K* xb[NP];
        for (int tp = 0; tp < NP; ++tp) {
            xa[tp] = reinterpret_cast<const BlockQ8_K*>(x + size_t(2 * tp) * x_stride) + b;
            xb[tp] = reinterpret_cast<const BlockQ8_K*>(x + size_t(std::min(2 * tp + 1, tokens - 1)) * x_stride) + b;
        }
        int32x4_t isum[NP][2], mins[NP][2];
        for (int tp = 0; tp < NP; ++tp) isum[tp][0] = isum[tp][1] = mins[tp][0] = mins[tp][1] = vdupq_n_s32(0);
        for (int j = 0; j < 8; ++j) {
            int8x16_t w[4][2];
            for (int s = 0; s < 4; ++s)
                for (int p = 0; p < 2; ++p)
                    w[s][p] = vld1q_s8(reinterpret_cast<const int8_t*>(tile) + 128 * j + 32 * s + 16 * p);
            const int32x4_t sc = vld1q_s32(reinterpret_cast<const int32_t*>(tile + kK4Scales) + 4 * j);
            const int32x4_t mn = vld1q_s32(reinterpret_cast<const int32_t*>(tile + kK4Mins) + 4 * j);
            for (int tp = 0; tp < NP; ++tp) {
                int8x16_t xv[4];
                for (int s = 0; s < 4; ++s) xv[s] = token_pair(xa[tp]->qs, xb[tp]->qs, 32 * j + 8 * s);
                const int32_t bs[4] = {xa[tp]->bsums[2 * j] + xa[tp]->bsums[2 * j + 1],
                                       xb[tp]->bsums[2 * j] + xb[tp]->bsums[2 * j + 1],
                                       xa[tp]->bsums[2 * j] + xa[tp]->bsums[2 * j + 1],
                                       xb[tp]->bsums[2 * j] + xb[tp]->bsums[2 * j + 1]};
                const int32x4_t bsv = vld1q_s32(bs);
                for (int p = 0; p < 2; ++p) {
                    int32x4_t s = vdupq_n_s32(0);
                    for (int st = 0; st < 4; ++st) s = vmmlaq_s32(s, w[st][p], xv[st]);
                    isum[tp][p] = vmlaq_s32(isum[tp][p], s, row_pair(sc, p));
                    mins[tp][p] = vmlaq_s32(mins[tp][p], row_pair(mn, p), bsv);
                }
            }
        }
        const float32x4_t d = vld1q_f32(reinterpret_cast<const float*>(tile + kK4D));
        const float32x4_t dmin = vld1q_f32(reinterpret_cast<const float*>(tile + kK4DMin));
        for (int tp = 0; tp < NP; ++tp) {
            const float dxv[4] = {xa[tp]->d, xb[tp]->d, xa[tp]->d, xb[tp]->d};
            const float32x4_t dx = vld1q_f32(dxv);
            for (int p = 0; p < 2; ++p) {
                acc[tp][p] = vfmaq_f32(acc[tp][p], vcvtq_f32_s32(isum[tp][p]), vmulq_f32(row_pair(d, p), dx));
                acc[tp][p] = vfmsq_f32(acc[tp][p], vcvtq_f32_s32(mins[tp][p]), vmulq_f32(row_pair(dmin, p), dx));
            }
        }
    }
    for (int tp = 0; tp < NP; ++tp)
        for (int p = 0; p < 2; ++p)
            store_tile(out + 2 * tp * out_stride, out_stride, acc[tp][p], p, rows, std::min(2, tokens - 2 * tp));
}

// ---- Q6_K: levels [16 sub-blocks][2 steps][2 pairs][2 rows][8] (q - 32), int32
// scales [16][4], float d[4].
template <int NP>
void q6_k_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, int tokens, float* out,
                 int64_t out_stride, int rows) {
    float32x4_t acc[NP][2];
    for (int tp = 0; tp < NP; ++tp) acc[tp][0] = acc[tp][1] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; ++b, tile += kK6Bytes) {
        const BlockQ8_K* xa[NP];
        const BlockQ8_K* xb[NP];
        for (int tp = 0; tp < NP; ++tp) {
            xa[tp] = reinterpret_cast<const BlockQ8_K*>(x + size_t(2 * tp) * x_stride) + b;
            xb[tp] = reinterpret_cast<const BlockQ8_K*>(x + size_t(std::min(2 * tp + 1, tokens - 1)) * x_stride) + b;
        }
        int32x4_t isum[NP][2];
        for (int tp = 0; tp < NP; ++tp) isum[tp][0] = isum[tp][1] = vdupq_n_s32(0);
        for (int j = 0; j < 16; ++j) {
            int8x16_t w[2][2];
            for (int s = 0; s < 2; ++s)
                for (int p = 0; p < 2; ++p)
                    w[s][p] = vld1q_s8(reinterpret_cast<const int8_t*>(tile) + 64 * j + 32 * s + 16 * p);
            const int32x4_t sc = vld1q_s32(reinterpret_cast<const int32_t*>(tile + kK6Scales) + 4 * j);
            for (int tp = 0; tp < NP; ++tp) {
                const int8x16_t x0 = token_pair(xa[tp]->qs, xb[tp]->qs, 16 * j);
                const int8x16_t x1 = token_pair(xa[tp]->qs, xb[tp]->qs, 16 * j + 8);
                for (int p = 0; p < 2; ++p) {
                    const int32x4_t s = vmmlaq_s32(vmmlaq_s32(vdupq_n_s32(0), w[0][p], x0), w[1][p], x1);
                    isum[tp][p] = vmlaq_s32(isum[tp][p], s, row_pair(sc, p));
                }
            }
        }
        const float32x4_t d = vld1q_f32(reinterpret_cast<const float*>(tile + kK6D));
        for (int tp = 0; tp < NP; ++tp) {
            const float dxv[4] = {xa[tp]->d, xb[tp]->d, xa[tp]->d, xb[tp]->d};
            const float32x4_t dx = vld1q_f32(dxv);
            for (int p = 0; p < 2; ++p)
                acc[tp][p] = vfmaq_f32(acc[tp][p], vcvtq_f32_s32(isum[tp][p]), vmulq_f32(row_pair(d, p), dx));
        }
    }
    for (int tp = 0; tp < NP; ++tp)
        for (int p = 0; p < 2; ++p)
            store_tile(out + 2 * tp * out_stride, out_stride, acc[tp][p], p, rows, std::min(2, tokens - 2 * tp));
}

// ---- entry points

template <typename Block>
void gemm_legacy(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                 size_t x_stride, float* out, int64_t out_stride) {
    run_tiles(n, 32, kLegacyBytes, 2 * kMaxPairs, n_rows, n_tokens, w, w_stride, x, x_stride, out, out_stride,
              repack_legacy<Block, put_steps>,
              [](const uint8_t* tile, int64_t nb, const uint8_t* xp, size_t xs, int tokens, float* o, int64_t os, int r) {
                  if (tokens > 2)
                      legacy_kernel<2>(tile, nb, xp, xs, tokens, o, os, r);
                  else
                      legacy_kernel<1>(tile, nb, xp, xs, tokens, o, os, r);
              });
}

void gemm_q4_k(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
               size_t x_stride, float* out, int64_t out_stride) {
    run_tiles(n, kQK_K, kK4Bytes, 2 * kMaxPairs, n_rows, n_tokens, w, w_stride, x, x_stride, out, out_stride,
              repack_q4_k<put_steps>,
              [](const uint8_t* tile, int64_t nb, const uint8_t* xp, size_t xs, int tokens, float* o, int64_t os, int r) {
                  if (tokens > 2)
                      q4_k_kernel<2>(tile, nb, xp, xs, tokens, o, os, r);
                  else
                      q4_k_kernel<1>(tile, nb, xp, xs, tokens, o, os, r);
              });
}

void gemm_q6_k(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
               size_t x_stride, float* out, int64_t out_stride) {
    run_tiles(n, kQK_K, kK6Bytes, 2 * kMaxPairs, n_rows, n_tokens, w, w_stride, x, x_stride, out, out_stride,
              repack_q6_k<put_steps>,
              [](const uint8_t* tile, int64_t nb, const uint8_t* xp, size_t xs, int tokens, float* o, int64_t os, int r) {
                  if (tokens > 2)
                      q6_k_kernel<2>(tile, nb, xp, xs, tokens, o, os, r);
                  else
                      q6_k_kernel<1>(tile, nb, xp, xs, tokens, o, os, r);
              });
}

KernelTable make_table() {
    KernelTable t = dotprod_table();
    t.isa = "i8mm";
    for (DType type : {DType::Q4_0, DType::Q8_0}) {
        GemmKernel& k = t.gemm[int(type)];
        k.gemm = type == DType::Q4_0 ? gemm_legacy<BlockQ4_0> : gemm_legacy<BlockQ8_0>;
        k.prepare = prepare_q8_0;
        k.prepared_block_bytes = sizeof(PreparedQ8_0);
        k.row_tile = kTileRows;
    }
    t.gemm[int(DType::Q4_K)] = GemmKernel{gemm_q4_k, nullptr, 0, kTileRows, 2};
    t.gemm[int(DType::Q6_K)] = GemmKernel{gemm_q6_k, nullptr, 0, kTileRows, 2};
    return t;
}

}  // namespace
}  // namespace arm

const KernelTable& i8mm_table() {
    static const KernelTable table = arm::make_table();
    return table;
}

}  // namespace dsm::kernels
