// Memory read bandwidth probe: streaming sums over a buffer much larger than the
// caches, with 1..N threads each reading its own contiguous share, as the decode
// matrix-vector products do. The decode roofline of a model is
// (bytes of weights read per token) / (this bandwidth).
// Each thread count is timed plain and with software prefetch a few KiB ahead: one
// core's reads are bound by how many cache misses it keeps in flight, and the decode
// kernels prefetch too, so the best of these is the ceiling to hold them against.
// It also times the first touch of the buffer's fresh pages: packing weights at load
// writes that much new memory, and on some virtual machines it costs more than the copy.
//
//   g++ -O2 -march=native -pthread bench/bandwidth.cpp -o bandwidth && ./bandwidth [MiB] [max_threads]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>

namespace {

// Sum of 64-bit words in [begin, end), eight independent sums so the loads overlap;
// prefetching `ahead` bytes ahead when that is not 0.
uint64_t stream_sum(const uint64_t* begin, const uint64_t* end, size_t ahead) {
    uint64_t s[8] = {};
    const uint64_t* p = begin;
    for (; p + 8 <= end; p += 8) {
        if (ahead) __builtin_prefetch(p + ahead / 8);
        for (int k = 0; k < 8; ++k) s[k] += p[k];
    }
    for (; p < end; ++p) s[0] += *p;
    uint64_t total = 0;
    for (uint64_t v : s) total += v;
    return total;
}

// Seconds for `threads` threads to each sum their share once (best of reps).
double timed_pass(const std::vector<uint64_t>& buf, int threads, size_t ahead, int reps, uint64_t& sink) {
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        std::atomic<int> ready{0};
        std::atomic<bool> go{false};
        std::vector<uint64_t> sums(static_cast<size_t>(threads));
        std::vector<std::thread> pool;
        std::vector<double> elapsed(static_cast<size_t>(threads));
        const size_t share = buf.size() / size_t(threads);
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                const uint64_t* b = buf.data() + share * size_t(t);
                ready.fetch_add(1);
                while (!go.load(std::memory_order_acquire)) {
                }
                const auto t0 = std::chrono::steady_clock::now();
                sums[size_t(t)] = stream_sum(b, b + share, ahead);
                elapsed[size_t(t)] = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
            });
        }
        while (ready.load() < threads) {
        }
        go.store(true, std::memory_order_release);
        for (auto& th : pool) th.join();
        for (uint64_t v : sums) sink += v;
        best = std::min(best, *std::max_element(elapsed.begin(), elapsed.end()));
    }
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const size_t mib = argc > 1 ? size_t(std::atol(argv[1])) : 1024;
    const int max_threads = argc > 2 ? std::atoi(argv[2]) : int(std::max(1u, std::thread::hardware_concurrency()));
    if (mib == 0 || max_threads < 1) {
        std::fprintf(stderr, "usage: bandwidth [MiB > 0] [max_threads > 0]\n");
        return 2;
    }
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<uint64_t> buf(mib * 1024 * 1024 / 8);  // zero-filled: touches every page
    const double touch = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = i * 0x9e3779b97f4a7c15ull;
    uint64_t sink = 0;
    std::printf("buffer %zu MiB, first touch of its pages %.3f s\n", mib, touch);
    for (int threads = 1; threads <= max_threads; ++threads) {
        const double bytes = double(buf.size() * 8), plain = bytes / timed_pass(buf, threads, 0, 3, sink) * 1e-9;
        double best = plain;
        for (size_t ahead : {2048, 4096, 8192})
            best = std::max(best, bytes / timed_pass(buf, threads, ahead, 3, sink) * 1e-9);
        // The last number is the ceiling (bench/compare.sh reads it).
        std::printf("%d thread%s: plain %.2f, best with prefetch %.2f GB/s\n", threads, threads > 1 ? "s" : " ", plain,
                    best);
    }
    return sink == 42 ? 1 : 0;  // keeps the sums alive
}
