// A small persistent thread pool for data-parallel loops. Decode calls parallel_for
// hundreds of times per token on tiny matrices, so workers spin briefly on an atomic
// generation counter before sleeping (std::atomic::wait) to keep dispatch cheap.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace dsm {

class ThreadPool {
public:
    // n_threads includes the calling thread; 0 means hardware concurrency.
    explicit ThreadPool(int n_threads = 0);
    ~ThreadPool();
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    int size() const { return n_threads_; }

    // Runs fn(task, thread) for every task in [0, n_tasks), spread over the threads
    // (tasks are claimed dynamically). Blocks until all are done. Not reentrant.
    void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

    // Pins worker i to CPU i (best effort); returns false if the OS refused.
    bool pin_threads();

private:
    void worker_loop(int index);
    void run_tasks(int thread);

    int n_threads_;
    std::vector<std::thread> workers_;
    const std::function<void(int64_t, int)>* job_ = nullptr;
    int64_t n_tasks_ = 0;
    std::atomic<int64_t> next_task_{0};
    std::atomic<uint32_t> generation_{0};
    std::atomic<int> busy_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace dsm
