// Runtime choice of instruction set for the hot loops.
//
// A hot loop is written once, as plain C++ that the compiler auto-vectorizes,
// in a lambda marked HISTEQ_INLINE and passed to `dispatch`, which calls it
// through a copy of itself compiled for AVX-512 or AVX2 when the CPU has them.
// The extension itself targets the baseline ISA, so one build runs on every
// machine of its architecture.  The build disables floating-point contraction
// (-ffp-contract=off), so every variant computes bit-identical results.
#pragma once

#include <cstdlib>
#include <cstring>

#if defined(__GNUC__)
#define HISTEQ_INLINE __attribute__((always_inline))
#else
#define HISTEQ_INLINE
#endif

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define HISTEQ_X86 1
#endif

namespace histeq {

#ifdef HISTEQ_X86
template <class F>
__attribute__((noinline, target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi,bmi2,popcnt"))) void run_avx512(
    F& f) {
    f();
}

template <class F>
__attribute__((noinline, target("avx2,fma,bmi,bmi2,popcnt"))) void run_avx2(F& f) {
    f();
}

// 2: AVX-512 (F, BW, DQ, VL), 1: AVX2 with FMA, 0: baseline.  The
// environment variable HISTEQ_SIMD=avx2 or =baseline caps it (read once), so
// that the tests can check every variant against the others on one machine.
inline int cpu_level() {
    static const int level = [] {
        __builtin_cpu_init();
        int found = 0;
        if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
            __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
            found = 2;
        else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
            found = 1;
        const char* cap = std::getenv("HISTEQ_SIMD");
        if (cap && std::strcmp(cap, "baseline") == 0) return 0;
        if (cap && std::strcmp(cap, "avx2") == 0) return found < 1 ? found : 1;
        return found;
    }();
    return level;
}
#endif

template <class F>
void dispatch(F&& f) {
#ifdef HISTEQ_X86
    switch (cpu_level()) {
        case 2:
            return run_avx512(f);
        case 1:
            return run_avx2(f);
        default:
            break;
    }
#endif
    f();
}

}  // namespace histeq
