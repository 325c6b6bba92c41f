// The "amx" table: the AVX-512 table with prompt products of the layouts packed at
// load (gemm_packed_avx512.cpp) on Intel AMX tiles; this file holds Q4_0 and Q8_0,
// gemm_q4_k_amx.cpp Q4_K.
//
// One tile multiply (tdpbssd) takes 16 tokens x 32 int8 activations and the same 32
// levels of 16 weight rows to 16 x 16 int32 dot products: 8192 multiply-adds, eight
// times what a 512-bit vpdpbusd does per instruction. A Q4_0 / Q8_0 block's fp16
// scales apply to 32 values, so every block's int32 products are stored and scaled
// into float accumulators (16 registers, one per token) with AVX-512; four result
// tiles rotate so that the tile unit works on later blocks meanwhile. That scaling,
// not the multiplies, bounds these types (about 1.2x the AVX-512 kernel).
//
// Per call, each group of 16 rows is first expanded into the tile unit's B layout
// (row k of a block: the 4 levels 4k .. 4k + 3 of every weight row, as signed bytes;
// the packed words already have this shape) next to one float scale vector per 32
// values; each tile of 16 tokens is gathered (A tiles and scales side by side) and
// passes over every group. Fewer tokens, and the tokens after the last full tile, run
// the AVX-512 packed kernel.
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "kernels/x86/amx.hpp"
#include "kernels/x86/gemm_tiles_avx512.hpp"

namespace dsm::kernels {

const KernelTable& avx512_table();

namespace amx {
namespace {

using avx512::PreparedQ8_0;

constexpr int kTileTokens = 16;
constexpr size_t kChunkBytes = 8 * 64;  // a B tile: 32 levels of 16 rows

constexpr int kResultTiles = 4;  // tiles 0 .. 3 of TileShape::Blocks32

struct alignas(64) TileConfig {
    uint8_t palette = 1;
    uint8_t start_row = 0;
    uint8_t reserved[14]{};
    uint16_t colsb[16]{};
    uint8_t rows[16]{};
};
constexpr TileConfig kBlocks32{1, 0, {}, {64, 64, 64, 64, 32, 32, 64, 64}, {16, 16, 16, 16, 16, 16, 8, 8}};
constexpr TileConfig kBlocks64{1, 0, {}, {64, 64, 64, 64, 64, 64, 64, 64}, {16, 16, 16, 16, 16, 16, 16, 16}};

// A group expanded for the tile unit: chunks of 32 levels (kChunkBytes each), then one
// float scale per row for each chunk.
struct Expanded {
    const int8_t* levels;
    const float* scales;
};

// Bytes ahead of the packed block being expanded that are requested from memory (the
// expansion reads each weight once, from memory, and does little work per byte).
constexpr size_t kExpandPrefetch = 2048;

// Q4_0 (Words = 4) and Q8_0 (Words = 8): a block is one chunk.
size_t expanded_legacy_bytes(int64_t nb) { return size_t(nb) * (kChunkBytes + 64); }

// The group that expand_legacy wrote at buf.
Expanded expanded_at(const uint8_t* buf, int64_t nb) {
    return {reinterpret_cast<const int8_t*>(buf), reinterpret_cast<const float*>(buf + size_t(nb) * kChunkBytes)};
}

template <int Words>
void expand_legacy(const uint8_t* group, int64_t nb, uint8_t* buf) {
    uint8_t* levels = buf;
    auto* scales = reinterpret_cast<float*>(buf + size_t(nb) * kChunkBytes);
    const __m512i m4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8), flip = _mm512_set1_epi8(char(0x80));
    for (int64_t b = 0; b < nb; ++b, group += avx512::kPackedLegacyBytes<Words>) {
        uint8_t* out = levels + size_t(b) * kChunkBytes;
        for (int g = 0; g < Words; ++g) {
            _mm_prefetch(reinterpret_cast<const char*>(group + kExpandPrefetch + 64 * g), _MM_HINT_T0);
            const __m512i w = _mm512_loadu_si512(group + 32 + 64 * g);
            if constexpr (Words == 4) {
                _mm512_store_si512(out + 64 * g, _mm512_sub_epi8(_mm512_and_si512(w, m4), eight));
                _mm512_store_si512(out + 64 * (g + 4),
                                   _mm512_sub_epi8(_mm512_and_si512(_mm512_srli_epi32(w, 4), m4), eight));
            } else {
                _mm512_store_si512(out + 64 * g, _mm512_xor_si512(w, flip));
            }
        }
        _mm512_store_ps(scales + 16 * b, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(group))));
    }
}

// 16 tokens' activations gathered for the tile unit: per chunk, the A tile (token t's
// 32 values at 32 t) and the 16 tokens' scales. Read once per group of the call, so
// the gather pays for itself when a call has more than one group.
constexpr size_t kGatheredChunkBytes = kTileTokens * 32 + 64;

void gather_tokens(const uint8_t* x, size_t x_stride, int64_t nc, uint8_t* out) {
    for (int64_t c = 0; c < nc; ++c, out += kGatheredChunkBytes) {
        auto* scales = reinterpret_cast<float*>(out + kTileTokens * 32);
        for (int t = 0; t < kTileTokens; ++t) {
            const auto& block = reinterpret_cast<const PreparedQ8_0*>(x + t * x_stride)[c];
            std::memcpy(out + 32 * t, block.qs, 32);
            scales[t] = block.d;
        }
    }
}

// 16 gathered tokens times the expanded group's nc chunks, added to acc[token]. Chunk
// c goes to result tile c % 4, so that three blocks are in the tile unit while the
// vector unit scales the fourth.
struct TileProducts {
    const Expanded& e;
    const uint8_t* tokens;  // gather_tokens' output
    __m512 (&acc)[kTileTokens];
    alignas(64) int32_t result[kResultTiles][256];  // left uninitialised: tile stores fill it

    TileProducts(const Expanded& expanded, const uint8_t* gathered, __m512 (&accumulators)[kTileTokens])
        : e(expanded), tokens(gathered), acc(accumulators) {}

    template <int C>
    void issue(int64_t c) {
        tile_zero<C>();
        tile_load<4 + C % 2>(tokens + size_t(c) * kGatheredChunkBytes, 32);
        tile_load<6 + C % 2>(e.levels + size_t(c) * kChunkBytes, 64);
        tile_dot<C, 4 + C % 2, 6 + C % 2>();
    }
    template <int C>
    void drain(int64_t c) {
        tile_store<C>(result[C]);
        const __m512 dw = _mm512_load_ps(e.scales + 16 * c);
        const float* dx = reinterpret_cast<const float*>(tokens + size_t(c) * kGatheredChunkBytes + kTileTokens * 32);
#pragma GCC unroll 16
        for (int t = 0; t < kTileTokens; ++t) {
            const __m512 s = _mm512_mul_ps(dw, _mm512_set1_ps(dx[t]));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_load_si512(result[C] + 16 * t)), s, acc[t]);
        }
    }
    // Issues chunk c + 3 (if any) into the tile chunk c - 1 used, then drains chunk c.
    template <int C>
    bool step(int64_t c, int64_t nc) {
        if (c >= nc) return false;
        if (c + 3 < nc) issue<(C + 3) % kResultTiles>(c + 3);
        drain<C>(c);
        return true;
    }
    void run(int64_t nc) {
        if (nc > 0) issue<0>(0);
        if (nc > 1) issue<1>(1);
        if (nc > 2) issue<2>(2);
        for (int64_t c = 0; step<0>(c, nc) && step<1>(c + 1, nc) && step<2>(c + 2, nc) && step<3>(c + 3, nc); c += 4) {
        }
    }
};

// The AVX-512 packed kernel of each type, for the tokens that do not fill a tile.
GemmFn vnni_gemm[kMaxTypeId];

// Per call: every group of the call's rows expanded once, then for each tile of 16
// tokens (gathered once) every group, so that the expanded rows and the tokens stay in
// the core's cache while they are reused.
template <int Words>
void gemm_packed(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
                 size_t x_stride, float* out, int64_t out_stride) {
    constexpr DType type = Words == 4 ? DType::Q4_0 : DType::Q8_0;
    const int64_t full = n_tokens / kTileTokens * kTileTokens;
    if (full > 0) {
        configure_tiles(TileShape::Blocks32);
        const auto* wp = static_cast<const uint8_t*>(w);
        const auto* xp = static_cast<const uint8_t*>(x);
        const int64_t nc = n / 32, groups = (n_rows + 15) / 16;
        const size_t group_bytes = expanded_legacy_bytes(nc);
        uint8_t* buf = avx512::tile_buffer(size_t(groups) * group_bytes + size_t(nc) * kGatheredChunkBytes);
        uint8_t* tokens = buf + size_t(groups) * group_bytes;
        for (int64_t g = 0; g < groups; ++g)
            expand_legacy<Words>(wp + size_t(16 * g) * w_stride, nc, buf + size_t(g) * group_bytes);
        for (int64_t t0 = 0; t0 < full; t0 += kTileTokens) {
            gather_tokens(xp + size_t(t0) * x_stride, x_stride, nc, tokens);
            for (int64_t g = 0; g < groups; ++g) {
                __m512 acc[kTileTokens];
                for (auto& a : acc) a = _mm512_setzero_ps();
                TileProducts(expanded_at(buf + size_t(g) * group_bytes, nc), tokens, acc).run(nc);
                const __mmask16 rows = __mmask16((1u << std::min<int64_t>(16, n_rows - 16 * g)) - 1);
                for (int t = 0; t < kTileTokens; ++t)
                    _mm512_mask_storeu_ps(out + (t0 + t) * out_stride + 16 * g, rows, acc[t]);
            }
        }
    }
    if (full < n_tokens)
        vnni_gemm[int(type)](n, n_rows, n_tokens - full, w, w_stride, static_cast<const uint8_t*>(x) + size_t(full) * x_stride,
                             x_stride, out + full * out_stride, out_stride);
}

void gemm_q4_k(int64_t n, int64_t n_rows, int64_t n_tokens, const void* w, size_t w_stride, const void* x,
               size_t x_stride, float* out, int64_t out_stride) {
    gemm_packed_q4_k(vnni_gemm[int(DType::Q4_K)], n, n_rows, n_tokens, w, w_stride, x, x_stride, out, out_stride);
}

KernelTable make_table() {
    KernelTable t = avx512_table();
    t.isa = "amx";
    const std::pair<DType, GemmFn> amx_kernels[] = {
        {DType::Q4_0, gemm_packed<4>}, {DType::Q8_0, gemm_packed<8>}, {DType::Q4_K, gemm_q4_k}};
    for (auto [type, fn] : amx_kernels) {
        vnni_gemm[int(type)] = t.packed[int(type)].kernel.gemm;
        t.packed[int(type)].kernel.gemm = fn;
    }
    return t;
}

}  // namespace

void configure_tiles(TileShape shape) {
    thread_local int loaded = -1;  // tile configuration is per thread
    if (loaded == int(shape)) return;
    static const TileConfig configs[] = {kBlocks32, kBlocks64};
    asm volatile("ldtilecfg %0" : : "m"(configs[int(shape)]));
    loaded = int(shape);
}

}  // namespace amx

bool amx_permitted() {
    // Linux hands out the tile state only on request (ARCH_REQ_XCOMP_PERM for XTILEDATA).
    constexpr int kReqXcompPerm = 0x1023, kXtileData = 18;
    return syscall(SYS_arch_prctl, kReqXcompPerm, kXtileData) == 0;
}

const KernelTable& amx_table() {
    static const KernelTable table = amx::make_table();
    return table;
}

}  // namespace dsm::kernels
