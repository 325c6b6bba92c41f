// NEON sdot tiles of 4 weight rows x up to 4 tokens for prompts.
//
// A tile's rows are repacked once per call so that one register holds the same 4
// consecutive levels of the 4 rows (lane r = row r); vdotq_laneq_s32 multiplies it
// by 4 activation bytes selected from a loaded register, advancing 4 (row, token)
// dot products at once. Levels are signed (sdot is signed x signed): no bias terms.
#include <arm_neon.h>

#include "kernels/arm/arm.hpp"
#include "kernels/arm/arm_gemm.hpp"

namespace dsm::kernels::arm {
namespace {

constexpr int kMaxTokens = 4;

// Places n levels of row r as groups of 4 at [group][row][4].
inline void put_groups(uint8_t* dst, int r, const int8_t* levels, int n) {
    for (int g = 0; g < n / 4; ++g) std::memcpy(dst + 16 * g + 4 * r, levels + 4 * g, 4);
}

inline void store_rows(float* out, float32x4_t v, int rows) {
    if (rows == kTileRows) {
        vst1q_f32(out, v);
        return;
    }
    float tmp[4];
    vst1q_f32(tmp, v);
    for (int r = 0; r < rows; ++r) out[r] = tmp[r];
}

// sum + the 8-group dot of w[0..8) with 32 activation bytes.
inline int32x4_t dot_groups8(int32x4_t s, const int8x16_t* w, const int8_t* x) {
    const int8x16_t x0 = vld1q_s8(x), x1 = vld1q_s8(x + 16);
    s = vdotq_laneq_s32(s, w[0], x0, 0);
    s = vdotq_laneq_s32(s, w[1], x0, 1);
    s = vdotq_laneq_s32(s, w[2], x0, 2);
    s = vdotq_laneq_s32(s, w[3], x0, 3);
    s = vdotq_laneq_s32(s, w[4], x1, 0);
    s = vdotq_laneq_s32(s, w[5], x1, 1);
    s = vdotq_laneq_s32(s, w[6], x1, 2);
    return vdotq_laneq_s32(s, w[7], x1, 3);
}

// ---- Q4_0 / Q8_0: tile block = levels [8 groups][4 rows][4], float d[4].
template <int NT>
void legacy_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                   int rows) {
    float32x4_t acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; ++b, tile += kLegacyBytes) {
        int8x16_t w[8];
        for (int g = 0; g < 8; ++g) w[g] = vld1q_s8(reinterpret_cast<const int8_t*>(tile) + 16 * g);
        const float32x4_t dw = vld1q_f32(reinterpret_cast<const float*>(tile + 128));
        for (int t = 0; t < NT; ++t) {
            const PreparedQ8_0& xb = reinterpret_cast<const PreparedQ8_0*>(x + size_t(t) * x_stride)[b];
            const int32x4_t s = dot_groups8(vdupq_n_s32(0), w, xb.qs);
            acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(s), vmulq_n_f32(dw, xb.d));
        }
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// ---- Q4_K: tile super-block = levels [8 sub-blocks][8 groups][4 rows][4], int32
// scales [8][4], mins [8][4], float d[4], dmin[4].
template <int NT>
void q4_k_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                 int rows) {
    float32x4_t acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; ++b, tile += kK4Bytes) {
        int32x4_t isum[NT], mins[NT];
        for (int t = 0; t < NT; ++t) isum[t] = mins[t] = vdupq_n_s32(0);
        for (int j = 0; j < 8; ++j) {
            int8x16_t w[8];
            for (int g = 0; g < 8; ++g) w[g] = vld1q_s8(reinterpret_cast<const int8_t*>(tile) + 128 * j + 16 * g);
            const int32x4_t sc = vld1q_s32(reinterpret_cast<const int32_t*>(tile + kK4Scales) + 4 * j);
            const int32x4_t mn = vld1q_s32(reinterpret_cast<const int32_t*>(tile + kK4Mins) + 4 * j);
            for (int t = 0; t < NT; ++t) {
                const BlockQ8_K& xb = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b];
                isum[t] = vmlaq_s32(isum[t], dot_groups8(vdupq_n_s32(0), w, xb.qs + 32 * j), sc);
                mins[t] = vmlaq_n_s32(mins[t], mn, xb.bsums[2 * j] + xb.bsums[2 * j + 1]);
            }
        }
        const float32x4_t d = vld1q_f32(reinterpret_cast<const float*>(tile + kK4D));
        const float32x4_t dmin = vld1q_f32(reinterpret_cast<const float*>(tile + kK4DMin));
        for (int t = 0; t < NT; ++t) {
            const float dx = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b].d;
            acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(isum[t]), vmulq_n_f32(d, dx));
            acc[t] = vfmsq_f32(acc[t], vcvtq_f32_s32(mins[t]), vmulq_n_f32(dmin, dx));
        }
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// ---- Q6_K: tile super-block = levels [16 sub-blocks][4 groups][4 rows][4] (q - 32),
// int32 scales [16][4], float d[4].
template <int NT>
void q6_k_kernel(const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, float* out, int64_t out_stride,
                 int rows) {
    float32x4_t acc[NT];
    for (int t = 0; t < NT; ++t) acc[t] = vdupq_n_f32(0);
    for (int64_t b = 0; b < nb; ++b, tile += kK6Bytes) {
        int32x4_t isum[NT];
        for (int t = 0; t < NT; ++t) isum[t] = vdupq_n_s32(0);
        for (int j = 0; j < 16; j += 2) {
            int8x16_t w[8];  // sub-blocks j and j + 1
            for (int g = 0; g < 8; ++g) w[g] = vld1q_s8(reinterpret_cast<const int8_t*>(tile) + 64 * j + 16 * g);
            const int32x4_t sc0 = vld1q_s32(reinterpret_cast<const int32_t*>(tile + kK6Scales) + 4 * j);
            const int32x4_t sc1 = vld1q_s32(reinterpret_cast<const int32_t*>(tile + kK6Scales) + 4 * (j + 1));
            for (int t = 0; t < NT; ++t) {
                const int8_t* xq = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b].qs + 16 * j;
                const int8x16_t x0 = vld1q_s8(xq), x1 = vld1q_s8(xq + 16);
                int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
                s0 = vdotq_laneq_s32(s0, w[0], x0, 0);
                s0 = vdotq_laneq_s32(s0, w[1], x0, 1);
                s0 = vdotq_laneq_s32(s0, w[2], x0, 2);
                s0 = vdotq_laneq_s32(s0, w[3], x0, 3);
                s1 = vdotq_laneq_s32(s1, w[4], x1, 0);
                s1 = vdotq_laneq_s32(s1, w[5], x1, 1);
                s1 = vdotq_laneq_s32(s1, w[6], x1, 2);
                s1 = vdotq_laneq_s32(s1, w[7], x1, 3);
                isum[t] = vmlaq_s32(vmlaq_s32(isum[t], s0, sc0), s1, sc1);
            }
        }
        const float32x4_t d = vld1q_f32(reinterpret_cast<const float*>(tile + kK6D));
        for (int t = 0; t < NT; ++t) {
            const float dx = reinterpret_cast<const BlockQ8_K*>(x + size_t(t) * x_stride)[b].d;
            acc[t] = vfmaq_f32(acc[t], vcvtq_f32_s32(isum[t]), vmulq_n_f32(d, dx));
        }
    }
    for (int t = 0; t < NT; ++t) store_rows(out + t * out_stride, acc[t], rows);
}

// ---- entry points

template <template <int> class K>
auto token_dispatch() {
    return [](const uint8_t* tile, int64_t nb, const uint8_t* x, size_t x_stride, int tokens, float* out,
              int64_t out_stride, int rows) {
        switch (tokens) {
        case 4: K<4>::run(tile, nb, x, x_stride, out, out_stride, rows); break;
        case 3: K<3>::run(tile, nb, x, x_stride, out, out_stride, rows); break;
        case 2: K<2>::run(tile, nb, x, x_stride, out, out_stride, rows); break;
        default: K<1>::run(tile, nb, x, x_stride, out, out_stride, rows); break;
        }
    };
}

template <int NT>
struct Legacy {
    static void run(const uint8_t* t, int64_t nb, const uint8_t* x, size_t xs, float* o, int64_t os, int r) {
        legacy_kernel<NT>(t, nb, x, xs, o, os, r);
    }
};
template <int NT>
struct K4 {
    static void run(const uint8_t* t, int64_t nb, const uint8_t* x, size_t xs, float* o, int64_t os, int r) {
        q4_k_kernel<NT>(t, nb, x, xs, o, os, r);
    }
};
template <int NT>
struct K6 {
    static void run(const uint8_t* t, int64_t nb, const uint8_t* x, size_t xs, float* o, int64_t os, int r) {
        q6_k_kernel<NT>(t, nb, x, xs, o, os, r);
    }
};

template <typename Block>
void gemm_legacy(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                 size_t x_stride, float* out, int64_t out_stride) {
    run_tiles(n, 32, kLegacyBytes, kMaxTokens, n_rows, n_tokens, w, w_stride, x, x_stride, out, out_stride,
              repack_legacy<Block, put_groups>, token_dispatch<Legacy>());
}
void gemm_q4_k(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
               size_t x_stride, float* out, int64_t out_stride) {
    run_tiles(n, kQK_K, kK4Bytes, kMaxTokens, n_rows, n_tokens, w, w_stride, x, x_stride, out, out_stride,
              repack_q4_k<put_groups>,
              token_dispatch<K4>());
}
void gemm_q6_k(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
               size_t x_stride, float* out, int64_t out_stride) {
    run_tiles(n, kQK_K, kK6Bytes, kMaxTokens, n_rows, n_tokens, w, w_stride, x, x_stride, out, out_stride,
              repack_q6_k<put_groups>,
              token_dispatch<K6>());
}

}  // namespace

void set_dotprod_gemm(KernelTable& t) {
    for (DType type : {DType::Q4_0, DType::Q8_0}) {
        GemmKernel& k = t.gemm[int(type)];
        k.gemm = type == DType::Q4_0 ? gemm_legacy<BlockQ4_0> : gemm_legacy<BlockQ8_0>;
        k.prepare = prepare_q8_0;
        k.prepared_block_bytes = sizeof(PreparedQ8_0);
        k.row_tile = kTileRows;
    }
    t.gemm[int(DType::Q4_K)].gemm = gemm_q4_k;
    t.gemm[int(DType::Q4_K)].row_tile = kTileRows;
    t.gemm[int(DType::Q6_K)].gemm = gemm_q6_k;
    t.gemm[int(DType::Q6_K)].row_tile = kTileRows;
}

}  // namespace dsm::kernels::arm
