// A small persistent thread pool for data-parallel loops. Decode calls parallel_for
// hundreds of times per token on small matrices, so dispatch must be cheap, and on a
// busy machine a worker may not get a core at all: the caller never waits for a
// worker that has not claimed a task — it runs the remaining tasks itself.
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
    // A pool of one thread: parallel_for runs inline on the caller. For work that is
    // itself one task of a parallel_for (no nesting of the real pool).
    static ThreadPool& serial();

    // Runs fn(task, thread) for every task in [0, n_tasks), spread over the threads
    // (tasks are claimed dynamically). Blocks until all are done. Not reentrant.
    void parallel_for(int64_t n_tasks, const std::function<void(int64_t task, int thread)>& fn);

    // Pins worker i to CPU i (best effort); returns false if the OS refused.
    bool pin_threads();

private:
    // One word holds (generation, task count, next task) so a claim can never
    // take a task of a newer job than the one it saw.
    static constexpr int kIndexBits = 20, kCountBits = 20;
    static constexpr int64_t kMaxTasks = (int64_t(1) << kIndexBits) - 1;

    void worker_loop(int index);
    void run_tasks(uint32_t generation, int thread);
    void run_chunk(int64_t first, int64_t count, const std::function<void(int64_t, int)>& fn);

    int n_threads_;
    std::vector<std::thread> workers_;
    std::atomic<const std::function<void(int64_t, int)>*> job_{nullptr};
    int64_t job_first_ = 0;                 // task offset of the current chunk
    std::atomic<uint64_t> claim_{0};
    std::atomic<int64_t> done_{0};
    std::atomic<uint32_t> generation_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace dsm
