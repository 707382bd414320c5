// Parallel loops over index ranges, run by the persistent worker pool.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "histeq/runtime/pool.hpp"

namespace histeq {

// How many workers parallel_for will use for `n` items split in chunks of at
// least `grain`; callers size per-worker scratch buffers with it.
inline int plan_workers(int64_t n, int threads, int64_t grain) {
    if (n <= 0 || threads <= 1) return 1;
    const int64_t chunks = (n + grain - 1) / std::max<int64_t>(grain, 1);
    return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, chunks)));
}

// Calls fn(worker, begin, end) over a static, contiguous split of [0, n),
// the workers on the persistent pool (pool.hpp).  Static splitting keeps
// results independent of timing: every worker owns a fixed range, so
// reductions merged in worker order are deterministic.
template <class Fn>
void parallel_for(int64_t n, int threads, int64_t grain, Fn&& fn) {
    const int workers = plan_workers(n, threads, grain);
    if (n <= 0) return;
    if (workers == 1) {
        fn(0, int64_t{0}, n);
        return;
    }
    std::exception_ptr error;
    std::mutex error_lock;
    run_workers(workers, [&](int w) {
        const int64_t begin = n * w / workers;
        const int64_t end = n * (w + 1) / workers;
        try {
            fn(w, begin, end);
        } catch (...) {
            std::lock_guard<std::mutex> guard(error_lock);
            if (!error) error = std::current_exception();
        }
    });
    if (error) std::rethrow_exception(error);
}

// A reusable barrier for the `count` workers of one parallel_for: wait()
// returns once all of them have called it (run_workers runs them all at
// once).  Waits spin (yielding): the phases it separates are short.
class Barrier {
   public:
    explicit Barrier(int count) : count_(count) {}
    void wait() {
        const int generation = generation_.load(std::memory_order_acquire);
        if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == count_) {
            arrived_.store(0, std::memory_order_relaxed);
            generation_.fetch_add(1, std::memory_order_acq_rel);
            return;
        }
        while (generation_.load(std::memory_order_acquire) == generation) std::this_thread::yield();
    }

   private:
    const int count_;
    std::atomic<int> arrived_{0}, generation_{0};
};

// Calls fn(member, phase) on each of `team` workers for phase = 0, 1, ...,
// phases - 1, every member finishing a phase before any starts the next.  A
// member that throws makes every member skip the remaining phases' work (all
// still meet each barrier, so none waits forever); the first error is rethrown.
template <class Fn>
void parallel_phases(int team, int64_t phases, Fn&& fn) {
    Barrier barrier(team);
    std::atomic<bool> failed{false};
    parallel_for(team, team, 1, [&](int member, int64_t, int64_t) {
        std::exception_ptr error;
        for (int64_t phase = 0; phase < phases; ++phase) {
            if (!failed.load(std::memory_order_acquire)) {
                try {
                    fn(member, phase);
                } catch (...) {
                    failed.store(true, std::memory_order_release);
                    error = std::current_exception();
                }
            }
            barrier.wait();
        }
        if (error) std::rethrow_exception(error);
    });
}

// Calls fn(worker, item) for every item of [0, n), the items handed out one
// at a time to whichever worker is free: for items of uneven cost whose
// results do not depend on the worker that computes them.
template <class Fn>
void parallel_items(int64_t n, int threads, Fn&& fn) {
    std::atomic<int64_t> next{0};
    parallel_for(plan_workers(n, threads, 1), threads, 1, [&](int w, int64_t, int64_t) {
        for (int64_t item = next++; item < n; item = next++) fn(w, item);
    });
}

}  // namespace histeq
