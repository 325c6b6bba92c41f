#include "core/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>

namespace dsm {
namespace {

inline void cpu_relax() {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

constexpr int kSpins = 4000;  // ~0.1 ms before sleeping

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
    n_threads_ = n_threads;
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool& ThreadPool::serial() {
    static ThreadPool one(1);
    return one;
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks(uint32_t generation, int thread) {
    const uint64_t gen = generation & ((1u << (64 - kIndexBits - kCountBits)) - 1);
    for (;;) {
        uint64_t v = claim_.load(std::memory_order_acquire);
        if ((v >> (kIndexBits + kCountBits)) != gen) return;               // a newer job (or none)
        const int64_t count = int64_t((v >> kIndexBits) & ((1u << kCountBits) - 1));
        const int64_t index = int64_t(v & ((1u << kIndexBits) - 1));
        if (index >= count) return;                                         // all claimed
        if (!claim_.compare_exchange_weak(v, v + 1, std::memory_order_acq_rel)) continue;
        // The claimed task is not done, so the caller is still waiting and job_ is ours.
        const auto* fn = job_.load(std::memory_order_acquire);
        (*fn)(job_first_ + index, thread);
        if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == count) done_.notify_one();
    }
}

void ThreadPool::worker_loop(int index) {
    uint32_t seen = 0;
    for (;;) {
        uint32_t g = generation_.load(std::memory_order_acquire);
        for (int spin = 0; g == seen && spin < kSpins; ++spin) {
            cpu_relax();
            g = generation_.load(std::memory_order_acquire);
        }
        if (g == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            continue;
        }
        seen = g;
        if (stop_.load()) return;
        run_tasks(g, index);
    }
}

void ThreadPool::run_chunk(int64_t first, int64_t count, const std::function<void(int64_t, int)>& fn) {
    const uint32_t g = generation_.load(std::memory_order_relaxed) + 1;
    const uint64_t gen = g & ((1u << (64 - kIndexBits - kCountBits)) - 1);
    job_.store(&fn, std::memory_order_relaxed);
    job_first_ = first;
    done_.store(0, std::memory_order_relaxed);
    claim_.store((gen << (kIndexBits + kCountBits)) | (uint64_t(count) << kIndexBits), std::memory_order_release);
    generation_.store(g, std::memory_order_release);
    generation_.notify_all();
    run_tasks(g, 0);
    // Every task is claimed; wait only for those still running on workers.
    for (int spin = 0; spin < kSpins; ++spin) {
        if (done_.load(std::memory_order_acquire) == count) return;
        cpu_relax();
    }
    for (int64_t d; (d = done_.load(std::memory_order_acquire)) != count;) done_.wait(d, std::memory_order_acquire);
}

void ThreadPool::parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
    if (n_tasks <= 0) return;
    if (n_threads_ == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
        return;
    }
    for (int64_t first = 0; first < n_tasks; first += kMaxTasks)
        run_chunk(first, std::min(kMaxTasks, n_tasks - first), fn);
}

bool ThreadPool::pin_threads() {
    const int n_cpu = int(std::thread::hardware_concurrency());
    if (n_cpu <= 0) return false;
    bool ok = true;
    auto pin = [&](pthread_t th, int cpu) {
        cpu_set_t set;
        CPU_ZERO(&set);
        CPU_SET(cpu % n_cpu, &set);
        ok &= pthread_setaffinity_np(th, sizeof(set), &set) == 0;
    };
    pin(pthread_self(), 0);
    for (size_t i = 0; i < workers_.size(); ++i) pin(workers_[i].native_handle(), int(i + 1));
    return ok;
}

}  // namespace dsm
