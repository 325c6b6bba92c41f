// Memory read bandwidth probe: streaming sums over a buffer much larger than the
// caches, with 1..N threads each reading its own contiguous share, as the decode
// matrix-vector products do. The decode roofline of a model is
// (bytes of weights read per token) / (this bandwidth).
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

// Sum of 64-bit words in [begin, end), eight independent sums so the loads overlap.
uint64_t stream_sum(const uint64_t* begin, const uint64_t* end) {
    uint64_t s[8] = {};
    const uint64_t* p = begin;
    for (; p + 8 <= end; p += 8)
        for (int k = 0; k < 8; ++k) s[k] += p[k];
    for (; p < end; ++p) s[0] += *p;
    uint64_t total = 0;
    for (uint64_t v : s) total += v;
    return total;
}

// Seconds for `threads` threads to each sum their share once (best of reps).
double timed_pass(const std::vector<uint64_t>& buf, int threads, int reps, uint64_t& sink) {
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
                sums[size_t(t)] = stream_sum(b, b + share);
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
    std::vector<uint64_t> buf(mib * 1024 * 1024 / 8);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = i * 0x9e3779b97f4a7c15ull;  // touch every page
    uint64_t sink = 0;
    std::printf("buffer %zu MiB\n", mib);
    for (int threads = 1; threads <= max_threads; ++threads) {
        const double s = timed_pass(buf, threads, 5, sink);
        std::printf("%d thread%s: %.2f GB/s\n", threads, threads > 1 ? "s" : " ", double(buf.size() * 8) / s * 1e-9);
    }
    return sink == 42 ? 1 : 0;  // keeps the sums alive
}
