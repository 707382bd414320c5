// 8-bit to 8-bit table lookup, vectorized where the CPU allows.
#pragma once

#include <cstdint>

#include "histeq/runtime/simd.hpp"

#ifdef HISTEQ_X86
#include <immintrin.h>
#endif

namespace histeq {

// dst[i] = table[src[i] ^ flip]; flip = 0x80 turns int8 values into indices.
inline void lut8_scalar(const uint8_t* __restrict src, const uint8_t* __restrict table, uint8_t* __restrict dst,
                        int64_t n, uint8_t flip) {
    for (int64_t i = 0; i < n; ++i) dst[i] = table[src[i] ^ flip];
}

#ifdef HISTEQ_X86
// AVX-512 VBMI: a 256-entry table is four registers; two 128-entry
// permutes and a blend on the index's top bit translate 64 pixels.
__attribute__((target("avx512f,avx512bw,avx512vbmi"))) inline void lut8_vbmi(const uint8_t* src, const uint8_t* table,
                                                                             uint8_t* dst, int64_t n, uint8_t flip) {
    const __m512i t0 = _mm512_loadu_si512(table), t1 = _mm512_loadu_si512(table + 64);
    const __m512i t2 = _mm512_loadu_si512(table + 128), t3 = _mm512_loadu_si512(table + 192);
    const __m512i x = _mm512_set1_epi8(static_cast<char>(flip));
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        const __m512i idx = _mm512_xor_si512(_mm512_loadu_si512(src + i), x);
        const __m512i low = _mm512_permutex2var_epi8(t0, idx, t1);
        const __m512i high = _mm512_permutex2var_epi8(t2, idx, t3);
        _mm512_storeu_si512(dst + i, _mm512_mask_blend_epi8(_mm512_movepi8_mask(idx), low, high));
    }
    lut8_scalar(src + i, table, dst + i, n - i, flip);
}

inline bool cpu_has_vbmi() { return cpu_features().vbmi; }
#endif

inline void lut8(const uint8_t* src, const uint8_t* table, uint8_t* dst, int64_t n, uint8_t flip) {
#ifdef HISTEQ_X86
    if (cpu_level() == 2 && cpu_has_vbmi()) return lut8_vbmi(src, table, dst, n, flip);  // HISTEQ_SIMD caps it
#endif
    lut8_scalar(src, table, dst, n, flip);
}

}  // namespace histeq
