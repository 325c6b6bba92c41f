// Kernel throughput of one kernel table on packed weights, without the model around
// it: the figures behind docs/PERFORMANCE.md's kernel comparisons.
//
//   bench_kernels prompt ISA TYPE [N] [TOKENS]
//       96 rows x N columns (in cache) times TOKENS tokens, one thread, best of 30:
//       ns per 16 x 16 x 32 multiply-adds and GMAC/s.
//   bench_kernels decode ISA TYPE [THREADS] [TASK_ROWS]
//       one token over 512 MiB of packed 1536-wide rows (from memory), THREADS threads
//       taking TASK_ROWS-row tasks in turn (0: one contiguous range each), best of 5: GB/s.
// ISA: a table this CPU has (scalar, avx2, avxvnni, avx512, amx, ...); TYPE: q4_0, q8_0, q4_k, q6_k
// (types with a packed layout in that table).
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/kernels.hpp"
#include "quant/quant.hpp"

namespace {

using namespace dsm;

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

struct Setup {
    const kernels::PackedKernel* pk = nullptr;
    const kernels::KernelTable* table = nullptr;
    DType type{};
};

// 16 quantized rows of n normal values (packed groups repeat them: speed does not
// depend on the values).
std::vector<uint8_t> sample_rows(DType type, int64_t n, std::mt19937& rng) {
    std::normal_distribution<float> normal;
    std::vector<float> f(size_t(n), 0.0f);
    std::vector<uint8_t> rows(16 * row_bytes(type, n));
    for (int r = 0; r < 16; ++r) {
        for (float& v : f) v = normal(rng);
        quantize_row(type, f.data(), rows.data() + size_t(r) * row_bytes(type, n), n);
    }
    return rows;
}

// Prepared activations of `tokens` tokens, as the kernel reads them (the converted
// rows themselves where the kernel has no prepare step).
std::vector<uint8_t> prepared_tokens(const Setup& s, int64_t n, int64_t tokens, std::mt19937& rng, size_t& stride) {
    const DType act = kernels::activation_type(s.type);
    const kernels::GemmKernel& k = s.pk->kernel;
    stride = k.prepare ? size_t(n / info(act).block_size) * k.prepared_block_bytes : row_bytes(act, n);
    std::normal_distribution<float> normal;
    std::vector<float> f(static_cast<size_t>(n));
    std::vector<uint8_t> row(row_bytes(act, n)), out(stride * size_t(tokens));
    for (int64_t t = 0; t < tokens; ++t) {
        for (float& v : f) v = normal(rng);
        s.table->from_float[int(act)](f.data(), row.data(), n);
        if (k.prepare)
            k.prepare(n, row.data(), out.data() + size_t(t) * stride);
        else
            std::copy(row.begin(), row.end(), out.begin() + std::ptrdiff_t(size_t(t) * stride));
    }
    return out;
}

int prompt(const Setup& s, int64_t n, int64_t tokens) {
    std::mt19937 rng(1);
    const int64_t rows = 96;
    const size_t rb = row_bytes(s.type, n);
    const std::vector<uint8_t> sample = sample_rows(s.type, n, rng);
    std::vector<uint8_t> packed(rb * rows + 64);
    uint8_t* aligned = packed.data() + (64 - uintptr_t(packed.data()) % 64) % 64;
    for (int64_t g = 0; g < rows / 16; ++g) s.pk->pack(n, 16, sample.data(), rb, aligned + size_t(g) * 16 * rb);
    size_t stride = 0;
    const std::vector<uint8_t> x = prepared_tokens(s, n, tokens, rng, stride);
    std::vector<float> out(size_t(rows * tokens));
    double best = 1e30;
    for (int rep = 0; rep < 30; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        s.pk->kernel.gemm(n, rows, tokens, aligned, rb, x.data(), stride, out.data(), rows);
        best = std::min(best, seconds_since(t0));
    }
    const double macs = double(n) * double(rows) * double(tokens);
    std::printf("prompt %.*s %s n=%ld tokens=%ld: %.1f ns per 16x16x32, %.1f GMAC/s\n", int(s.table->isa.size()),
                s.table->isa.data(), std::string(dtype_name(s.type)).c_str(), long(n), long(tokens),
                best / (macs / 8192) * 1e9, macs / best / 1e9);
    return 0;
}

int decode(const Setup& s, int threads, int64_t task_rows) {
    std::mt19937 rng(1);
    const int64_t n = 1536, call_rows = 96;
    const size_t rb = row_bytes(s.type, n);
    const int64_t rows = int64_t((size_t(512) << 20) / rb) / call_rows * call_rows;
    const size_t bytes = rb * size_t(rows);
    void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        std::fprintf(stderr, "bench_kernels: cannot map %zu bytes\n", bytes);
        return 1;
    }
    auto* packed = static_cast<uint8_t*>(mem);
    const std::vector<uint8_t> sample = sample_rows(s.type, n, rng);
    for (int64_t g = 0; g < rows / 16; ++g) s.pk->pack(n, 16, sample.data(), rb, packed + size_t(g) * 16 * rb);
    size_t stride = 0;
    const std::vector<uint8_t> x = prepared_tokens(s, n, 1, rng, stride);
    task_rows = task_rows <= 0 ? 0 : std::max<int64_t>(call_rows, task_rows / call_rows * call_rows);
    double best = 1e30;
    for (int rep = 0; rep < 5; ++rep) {
        const auto t0 = std::chrono::steady_clock::now();
        std::vector<std::thread> pool;
        for (int k = 0; k < threads; ++k)
            pool.emplace_back([&, k] {
                std::vector<float> out(static_cast<size_t>(call_rows));
                auto run = [&](int64_t r0, int64_t r1) {
                    for (int64_t r = r0; r < r1; r += call_rows)
                        s.pk->kernel.gemm(n, call_rows, 1, packed + size_t(r) * rb, rb, x.data(), stride, out.data(), 1);
                };
                if (task_rows == 0) {
                    const int64_t per = rows / call_rows / threads * call_rows;
                    run(per * k, k == threads - 1 ? rows : per * (k + 1));
                } else {
                    for (int64_t t0 = task_rows * k; t0 < rows; t0 += task_rows * threads) run(t0, std::min(rows, t0 + task_rows));
                }
            });
        for (auto& t : pool) t.join();
        best = std::min(best, seconds_since(t0));
    }
    ::munmap(mem, bytes);
    std::printf("decode %.*s %s threads=%d tasks=%s: %.2f GB/s\n", int(s.table->isa.size()), s.table->isa.data(),
                std::string(dtype_name(s.type)).c_str(), threads,
                task_rows ? (std::to_string(task_rows) + " rows").c_str() : "contiguous", double(bytes) / best / 1e9);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr,
                     "usage: bench_kernels prompt ISA TYPE [N] [TOKENS]\n"
                     "       bench_kernels decode ISA TYPE [THREADS] [TASK_ROWS]\n");
        return 2;
    }
    const std::string mode = argv[1], type_name = argv[3];
    Setup s;
    s.table = kernels::find(argv[2]);
    if (!s.table) {
        std::fprintf(stderr, "bench_kernels: no kernel table '%s' on this CPU\n", argv[2]);
        return 1;
    }
    const std::pair<const char*, DType> types[] = {{"q4_0", DType::Q4_0}, {"q8_0", DType::Q8_0}, {"q4_k", DType::Q4_K}, {"q6_k", DType::Q6_K}};
    bool known = false;
    for (auto [name, t] : types)
        if (type_name == name) s.type = t, known = true;
    s.pk = known ? &s.table->packed[int(s.type)] : nullptr;
    if (!s.pk || !s.pk->pack) {
        std::fprintf(stderr, "bench_kernels: table '%s' has no packed layout for '%s'\n", argv[2], type_name.c_str());
        return 1;
    }
    if (mode == "prompt") {
        const int64_t n = argc > 4 ? std::atoll(argv[4]) : 1536, tokens = argc > 5 ? std::atoll(argv[5]) : 256;
        if (n <= 0 || n % info(s.type).block_size != 0 || tokens <= 0) {
            std::fprintf(stderr, "bench_kernels: N must be a positive multiple of %ld, TOKENS positive\n",
                         long(info(s.type).block_size));
            return 2;
        }
        return prompt(s, n, tokens);
    }
    if (mode == "decode") return decode(s, argc > 4 ? std::atoi(argv[4]) : 2, argc > 5 ? std::atoll(argv[5]) : 96);
    std::fprintf(stderr, "bench_kernels: unknown mode '%s' (prompt or decode)\n", mode.c_str());
    return 2;
}
