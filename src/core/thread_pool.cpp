#include "core/thread_pool.hpp"

#include <pthread.h>
#include <sched.h>

namespace dsm {

ThreadPool::ThreadPool(int n_threads) {
    if (n_threads <= 0) n_threads = int(std::max(1u, std::thread::hardware_concurrency()));
    n_threads_ = n_threads;
    for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
    stop_.store(true);
    generation_.fetch_add(1);
    generation_.notify_all();
    for (auto& t : workers_) t.join();
}

void ThreadPool::run_tasks(int thread) {
    for (;;) {
        const int64_t t = next_task_.fetch_add(1, std::memory_order_relaxed);
        if (t >= n_tasks_) break;
        (*job_)(t, thread);
    }
}

void ThreadPool::worker_loop(int index) {
    uint32_t seen = 0;
    for (;;) {
        // Spin a little: the next parallel_for usually follows within microseconds.
        uint32_t g = generation_.load(std::memory_order_acquire);
        for (int spin = 0; g == seen && spin < 4000; ++spin) {
#if defined(__x86_64__)
            __builtin_ia32_pause();
#endif
            g = generation_.load(std::memory_order_acquire);
        }
        if (g == seen) {
            generation_.wait(seen, std::memory_order_acquire);
            continue;
        }
        seen = g;
        if (stop_.load()) return;
        run_tasks(index);
        if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) busy_.notify_one();
    }
}

void ThreadPool::parallel_for(int64_t n_tasks, const std::function<void(int64_t, int)>& fn) {
    if (n_tasks <= 0) return;
    if (n_threads_ == 1 || n_tasks == 1) {
        for (int64_t t = 0; t < n_tasks; ++t) fn(t, 0);
        return;
    }
    job_ = &fn;
    n_tasks_ = n_tasks;
    next_task_.store(0, std::memory_order_relaxed);
    busy_.store(n_threads_ - 1, std::memory_order_relaxed);
    generation_.fetch_add(1, std::memory_order_release);
    generation_.notify_all();
    run_tasks(0);
    // Spin briefly (workers usually finish together), then sleep: on a loaded machine
    // a spinning caller would steal the core a descheduled worker needs.
    for (int spin = 0; spin < 4000; ++spin) {
        if (busy_.load(std::memory_order_acquire) == 0) return;
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
    }
    for (int b; (b = busy_.load(std::memory_order_acquire)) != 0;) busy_.wait(b, std::memory_order_acquire);
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
