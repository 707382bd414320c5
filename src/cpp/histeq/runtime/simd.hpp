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
#include <cpuid.h>
#endif

namespace histeq {

#ifdef HISTEQ_X86
template <class F>
__attribute__((noinline, target("avx512f,avx512bw,avx512dq,avx512vl,avx2,fma,bmi,bmi2,popcnt"))) void run_avx512(F& f) {
    f();
}

template <class F>
__attribute__((noinline, target("avx2,fma,bmi,bmi2,popcnt"))) void run_avx2(F& f) {
    f();
}

// What the CPU and the operating system support, read with CPUID and XGETBV
// themselves: __builtin_cpu_supports needs the compiler runtime's CPU model,
// which toolchains that link their own runtime (zig's, used for the manylinux
// wheels) leave unset, and it does not check that the OS saves the wide
// registers.
struct CpuFeatures {
    bool avx2 = false, avx512 = false, vbmi = false;
};

inline CpuFeatures read_cpu_features() {
    CpuFeatures found;
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return found;
    const bool fma = c & (1u << 12), popcnt = c & (1u << 23), osxsave = c & (1u << 27);
    if (!osxsave) return found;
    unsigned xcr0_low = 0, xcr0_high = 0;
    __asm__ volatile("xgetbv" : "=a"(xcr0_low), "=d"(xcr0_high) : "c"(0));
    const bool ymm = (xcr0_low & 0x6) == 0x6;    // SSE and AVX state
    const bool zmm = (xcr0_low & 0xe6) == 0xe6;  // and the opmask and ZMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return found;
    const bool bmi = b & (1u << 3), avx2 = b & (1u << 5), bmi2 = b & (1u << 8);
    const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    found.avx2 = ymm && avx2 && fma && bmi && bmi2 && popcnt;
    found.avx512 = found.avx2 && zmm && f && dq && bw && vl;
    found.vbmi = found.avx512 && (c & (1u << 1));
    return found;
}

inline const CpuFeatures& cpu_features() {
    static const CpuFeatures features = read_cpu_features();
    return features;
}

// 2: AVX-512 (F, BW, DQ, VL), 1: AVX2 with FMA, 0: baseline.  The
// environment variable HISTEQ_SIMD=avx2 or =baseline caps it (read once), so
// that the tests can check every variant against the others on one machine.
inline int cpu_level() {
    static const int level = [] {
        const int found = cpu_features().avx512 ? 2 : cpu_features().avx2 ? 1 : 0;
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
