// The persistent worker pool: threads started once, parked between calls.
//
// run_workers(n, task) runs task(0) on the calling thread and task(1..n-1) on
// pool threads, all at once (a Barrier between them is safe), and returns
// when all are done.  Threads are added as a call needs them and never leave;
// between calls they spin briefly (a call that follows soon finds them
// awake), then sleep.  One call at a time uses the pool: a call made while
// it is busy (another Python thread, or a call nested in a worker) starts
// threads of its own, as histeq did before the pool.  A child process made
// by fork() gets a new, empty pool: the parent's threads do not exist there.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#include <signal.h>
#endif

namespace histeq {

// A thread that never takes the process's signals.  The kernel hands a signal
// such as SIGTERM or SIGINT to any thread that does not block it, and Python
// runs its handler only when the main thread next runs: taken by a worker, it
// would leave a main thread blocked in a read asleep (a Ctrl-C or a parent's
// death unheard).  Faults (SIGSEGV and the like) stay with the thread.
template <class Fn, class... Args>
std::thread signal_free_thread(Fn&& fn, Args&&... args) {
#if defined(__unix__) || defined(__APPLE__)
    sigset_t blocked, previous;
    sigfillset(&blocked);
    for (int fault : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGTRAP}) sigdelset(&blocked, fault);
    pthread_sigmask(SIG_SETMASK, &blocked, &previous);  // the new thread inherits the mask
    struct Restore {
        sigset_t* mask;
        ~Restore() { pthread_sigmask(SIG_SETMASK, mask, nullptr); }
    } restore{&previous};
#endif
    return std::thread(std::forward<Fn>(fn), std::forward<Args>(args)...);
}

class Pool {
   public:
    // The process's pool.
    static Pool& get() {
        static const bool registered = [] {
#if defined(__unix__) || defined(__APPLE__)
            pthread_atfork(nullptr, nullptr, [] { current() = new Pool(); });  // the old one's threads are gone
#endif
            return true;
        }();
        (void)registered;
        return *current();
    }

    void run(int workers, const std::function<void(int)>& task) {
        std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
        if (!busy.owns_lock()) {
            run_on_new_threads(workers, task);
            return;
        }
        grow(workers - 1);
        {
            std::lock_guard<std::mutex> guard(lock_);
            task_ = &task;
            active_ = workers;
            remaining_.store(workers - 1, std::memory_order_relaxed);
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
        task(0);
        for (int spin = 0; remaining_.load(std::memory_order_acquire) != 0; ++spin) {
            if (spin < kSpins) {
                std::this_thread::yield();
                continue;
            }
            std::unique_lock<std::mutex> guard(lock_);
            done_.wait(guard, [&] { return remaining_.load(std::memory_order_acquire) == 0; });
        }
    }

    int size() {
        std::lock_guard<std::mutex> guard(lock_);
        return static_cast<int>(threads_);
    }

   private:
    // Rounds of waiting awake before a parked thread sleeps (about 50 us).
    static constexpr int kSpins = 2000;

    static Pool*& current() {
        static Pool* pool = new Pool();  // never destroyed: its threads outlive static destruction
        return pool;
    }

    static void run_on_new_threads(int workers, const std::function<void(int)>& task) {
        std::vector<std::thread> threads;
        threads.reserve(workers - 1);
        for (int w = 1; w < workers; ++w) threads.push_back(signal_free_thread(task, w));
        task(0);
        for (auto& t : threads) t.join();
    }

    void grow(int needed) {
        std::lock_guard<std::mutex> guard(lock_);
        // A new thread waits for the next call, which has not started yet.
        const uint64_t now = generation_.load(std::memory_order_acquire);
        while (threads_ < static_cast<size_t>(needed)) {
            const int index = static_cast<int>(++threads_);
            signal_free_thread([this, index, now] { serve(index, now); }).detach();
        }
    }

    void serve(int index, uint64_t seen) {
        for (;;) {
            for (int spin = 0; generation_.load(std::memory_order_acquire) == seen; ++spin) {
                if (spin < kSpins) {
                    std::this_thread::yield();
                    continue;
                }
                std::unique_lock<std::mutex> guard(lock_);
                wake_.wait(guard, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            }
            const std::function<void(int)>* task;
            int active;
            {
                // The generation, its task and its worker count are read together: read apart, a worker
                // could take a newer call's task under an older generation, run it twice (the second time
                // after its caller returned) and count itself done twice.
                std::lock_guard<std::mutex> guard(lock_);
                seen = generation_.load(std::memory_order_acquire);
                task = task_;
                active = active_;
            }
            if (index >= active) continue;
            (*task)(index);
            if (remaining_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::lock_guard<std::mutex> guard(lock_);
                done_.notify_all();
            }
        }
    }

    std::mutex busy_;  // held by the call that uses the pool
    std::mutex lock_;
    std::condition_variable wake_, done_;
    std::atomic<uint64_t> generation_{0};
    std::atomic<int> remaining_{0};
    const std::function<void(int)>* task_ = nullptr;
    int active_ = 0;
    size_t threads_ = 0;
};

// task(w) for w in [0, workers), all at once: w = 0 on this thread.
template <class Task>
void run_workers(int workers, Task&& task) {
    const std::function<void(int)> wrapped = std::ref(task);
    Pool::get().run(workers, wrapped);
}

}  // namespace histeq
