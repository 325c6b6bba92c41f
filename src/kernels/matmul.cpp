#include "kernels/matmul.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/kernels.hpp"
#include "kernels/pack.hpp"
#include "quant/quant.hpp"

namespace dsm::kernels {
namespace {

// Below this many multiply-adds a product runs on the calling thread: waking the
// pool costs more than the work (the tiny test models' 64-wide matrices).
constexpr int64_t kSerialMacs = int64_t(1) << 17;

// Rows ahead of the one in use whose bytes the per-row loop asks the cache for: some
// CPUs' hardware prefetchers fall behind a stream that does this much work per byte
// (2x on a Xeon for Q4_0 rows, docs/PERFORMANCE.md).
constexpr int64_t kPrefetchRows = 2;

// Decode (this many tokens or fewer) streams each matrix from memory once: a few long
// tasks per thread keep each thread's reads contiguous, which the memory system serves
// faster than many short interleaved ones (two threads, packed Q4_0 from memory: 23 GB/s
// in 83 KiB tasks, 26-28 GB/s in 1.3 MiB ones and more).
constexpr int64_t kDecodeTokens = 2, kDecodeTasksPerThread = 2;

inline void prefetch(const uint8_t* p, size_t bytes) {
    for (size_t at = 0; at < bytes; at += 64) __builtin_prefetch(p + at, 0, 3);
}

// Runs fn(task, thread) for every task, on the pool or (serial) on this thread.
template <typename Fn>
void for_each_task(ThreadPool& pool, bool serial, int64_t n_tasks, const Fn& fn) {
    if (serial || n_tasks == 1) {
        for (int64_t i = 0; i < n_tasks; ++i) fn(i, 0);
    } else {
        pool.parallel_for(n_tasks, fn);
    }
}

void matmul_f32_reference(const Weight& w, const float* x, int64_t x_stride, int64_t n_tokens, float* y,
                          int64_t y_stride, ThreadPool& pool) {
    const VecDotFn dot = active().vec_dot[uint32_t(DType::F32)];
    pool.parallel_for(w.rows, [&](int64_t r, int) {
        std::vector<float> row(static_cast<size_t>(w.cols));
        dequantize_row(w.type, w.row(r), row.data(), w.cols);
        for (int64_t t = 0; t < n_tokens; ++t) dot(w.cols, y + t * y_stride + r, row.data(), x + t * x_stride);
    });
}

// gemm / gemv path: tasks of whole row tiles x a token range, each one kernel call
// (a gemm repacks its rows once and streams the tokens through). A task takes all
// tokens unless there are too few row tiles to keep the threads busy.
void matmul_tiles(const Weight& w, const GemmKernel& gk, const uint8_t* xp, size_t xp_stride, int64_t n_tokens,
                  float* y, int64_t y_stride, ThreadPool& pool, bool serial) {
    const int64_t threads = serial ? 1 : pool.size();
    const int64_t n_tiles = (w.rows + gk.row_tile - 1) / gk.row_tile;
    const int64_t tasks_per_thread = n_tokens <= kDecodeTokens ? kDecodeTasksPerThread : 8;
    const int64_t rows_per_task = int64_t(gk.row_tile) * std::max<int64_t>(1, n_tiles / (threads * tasks_per_thread));
    const int64_t n_row_tasks = (w.rows + rows_per_task - 1) / rows_per_task;
    int64_t token_chunks =
        std::max<int64_t>(1, std::min<int64_t>((threads * 4 + n_row_tasks - 1) / n_row_tasks, (n_tokens + 7) / 8));
    const int64_t token_tile = (n_tokens + token_chunks - 1) / token_chunks;
    token_chunks = (n_tokens + token_tile - 1) / token_tile;
    for_each_task(pool, serial, n_row_tasks * token_chunks, [&](int64_t task, int) {
        const int64_t r0 = (task % n_row_tasks) * rows_per_task, rows = std::min(rows_per_task, w.rows - r0);
        const int64_t t0 = (task / n_row_tasks) * token_tile, tokens = std::min(token_tile, n_tokens - t0);
        gk.gemm(w.cols, rows, tokens, w.row(r0), w.row_stride, xp + size_t(t0) * xp_stride, xp_stride,
                y + t0 * y_stride + r0, y_stride);
    });
}

}  // namespace

void matmul(const Weight& w, const float* x, int64_t x_stride, int64_t n_tokens, float* y, int64_t y_stride,
            ThreadPool& pool, std::vector<uint8_t>& scratch, bool f32_activations) {
    if (f32_activations && w.type != DType::F32) {
        matmul_f32_reference(w, x, x_stride, n_tokens, y, y_stride, pool);
        return;
    }
    const KernelTable& kt = active();
    const DType act = activation_type(w.type);
    const VecDotFn dot = kt.vec_dot[uint32_t(w.type)];
    const FromFloatFn convert = kt.from_float[uint32_t(act)];
    const size_t x_row_bytes = row_bytes(act, w.cols);
    const bool serial = pool.size() == 1 || w.rows * w.cols * n_tokens < kSerialMacs;
    const bool parallel_convert = !serial && n_tokens >= 4;

    const GemmKernel* tiles = nullptr;
    Weight packed;  // w's packed copy, viewed as rows (a group of them is a kernel tile)
    if (w.packed && w.packed_for == &kt.packed[uint32_t(w.type)]) {
        if (w.pack_on_demand) w.pack_on_demand->ensure(w);
        packed = w;
        packed.data = w.packed;
        tiles = &kt.packed[uint32_t(w.type)].kernel;
    } else if (kt.gemm[uint32_t(w.type)].gemm && n_tokens >= int64_t(kt.gemm[uint32_t(w.type)].min_tokens)) {
        tiles = &kt.gemm[uint32_t(w.type)];
    } else if (kt.gemv[uint32_t(w.type)].gemm) {
        tiles = &kt.gemv[uint32_t(w.type)];
    }
    const Weight& tw = packed.empty() ? w : packed;
    if (tiles) {
        const GemmKernel& gk = *tiles;
        if (!gk.prepare) {
            scratch.resize(x_row_bytes * size_t(n_tokens));
            uint8_t* dst = scratch.data();
            for_each_task(pool, !parallel_convert, n_tokens,
                          [&](int64_t t, int) { convert(x + t * x_stride, dst + size_t(t) * x_row_bytes, w.cols); });
            matmul_tiles(tw, gk, dst, x_row_bytes, n_tokens, y, y_stride, pool, serial);
            return;
        }
        // Convert each token row (in a per-thread buffer) and prepare it for the kernel.
        const size_t prepared_bytes = size_t(w.cols / info(act).block_size) * gk.prepared_block_bytes;
        scratch.resize(prepared_bytes * size_t(n_tokens));
        uint8_t* dst = scratch.data();
        for_each_task(pool, !parallel_convert, n_tokens, [&](int64_t t, int) {
            thread_local std::vector<uint8_t> row;
            row.resize(x_row_bytes);
            convert(x + t * x_stride, row.data(), w.cols);
            gk.prepare(w.cols, row.data(), dst + size_t(t) * prepared_bytes);
        });
        matmul_tiles(tw, gk, dst, prepared_bytes, n_tokens, y, y_stride, pool, serial);
        return;
    }

    const uint8_t* xq;
    if (act == DType::F32) {
        xq = reinterpret_cast<const uint8_t*>(x);
    } else {
        scratch.resize(x_row_bytes * size_t(n_tokens));
        uint8_t* dst = scratch.data();
        for_each_task(pool, !parallel_convert, n_tokens,
                      [&](int64_t t, int) { convert(x + t * x_stride, dst + size_t(t) * x_row_bytes, w.cols); });
        xq = dst;
    }
    const size_t xq_stride = act == DType::F32 ? size_t(x_stride) * 4 : x_row_bytes;

    // Tiles of rows x tokens: a weight row is read once per token tile while the
    // tile's activations stay in cache. Enough tiles to balance the threads.
    const int64_t token_tile = std::min<int64_t>(n_tokens, 64);
    const int64_t n_token_tiles = (n_tokens + token_tile - 1) / token_tile;
    const bool decode = n_tokens <= kDecodeTokens;
    const int64_t want_tasks = int64_t(pool.size()) * (decode ? kDecodeTasksPerThread : 8);
    int64_t row_tile = std::max<int64_t>(1, (w.rows * n_token_tiles + want_tasks - 1) / want_tasks);
    row_tile = std::max<int64_t>(row_tile, 4);
    if (!decode) row_tile = std::min<int64_t>(row_tile, 256);
    const int64_t n_row_tiles = (w.rows + row_tile - 1) / row_tile;

    for_each_task(pool, serial, n_row_tiles * n_token_tiles, [&](int64_t task, int) {
        const int64_t r0 = (task % n_row_tiles) * row_tile, r1 = std::min(w.rows, r0 + row_tile);
        const int64_t t0 = (task / n_row_tiles) * token_tile, t1 = std::min(n_tokens, t0 + token_tile);
        for (int64_t r = r0; r < r1; ++r) {
            const uint8_t* wr = w.row(r);
            if (r + kPrefetchRows < r1) prefetch(w.row(r + kPrefetchRows), w.row_stride);
            for (int64_t t = t0; t < t1; ++t) dot(w.cols, y + t * y_stride + r, wr, xq + size_t(t) * xq_stride);
        }
    });
}

}  // namespace dsm::kernels
