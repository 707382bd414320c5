// CLAHE's interpolation kernel for 2-D integer images with one bin per level
// whose levels fit in a byte above out_lo (8-bit output), where the weighted
// sums fit in int32 (HalfUpDivision::small): the cell between four tile
// centres gets one table whose entries pack the four tiles' levels, so that a
// pixel reads one entry instead of four.  Entry bytes: top-left, bottom-left,
// top-right, bottom-right, so that the halves of (p & 0x00ff00ff) and (p >> 8
// & 0x00ff00ff) are the top and the bottom pair.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "histeq/clahe/clahe_plan.hpp"
#include "histeq/clahe/clahe_rounding.hpp"
#include "histeq/clahe/clahe_tables.hpp"
#include "histeq/tables/equalize.hpp"

#ifdef HISTEQ_X86
#include <immintrin.h>
#endif

namespace histeq {

#ifdef HISTEQ_X86
// clahe_pixels_cells's tables from four byte tables, 64 entries at a time:
// byte unpacks pair the tiles, word unpacks make the four-byte entries, and a
// transpose of 128-bit lanes puts them in order.
__attribute__((target("avx512f,avx512bw"))) inline void pack_cell_avx512(const uint8_t* tl, const uint8_t* bl,
                                                                         const uint8_t* tr, const uint8_t* br,
                                                                         int64_t n, uint8_t low, uint32_t* out) {
    const __m512i offset = _mm512_set1_epi8(static_cast<char>(low));
    for (int64_t k = 0; k < n; k += 64) {
        const int64_t left = n - k;
        const __mmask64 valid = left >= 64 ? ~__mmask64{0} : (__mmask64{1} << left) - 1;
        const __m512i a = _mm512_sub_epi8(_mm512_maskz_loadu_epi8(valid, tl + k), offset);
        const __m512i b = _mm512_sub_epi8(_mm512_maskz_loadu_epi8(valid, bl + k), offset);
        const __m512i c = _mm512_sub_epi8(_mm512_maskz_loadu_epi8(valid, tr + k), offset);
        const __m512i d = _mm512_sub_epi8(_mm512_maskz_loadu_epi8(valid, br + k), offset);
        const __m512i ab_lo = _mm512_unpacklo_epi8(a, b), ab_hi = _mm512_unpackhi_epi8(a, b);
        const __m512i cd_lo = _mm512_unpacklo_epi8(c, d), cd_hi = _mm512_unpackhi_epi8(c, d);
        // r[i], 128-bit lane j: the entries 16 j + 4 i ... 16 j + 4 i + 3.
        const __m512i r0 = _mm512_unpacklo_epi16(ab_lo, cd_lo), r1 = _mm512_unpackhi_epi16(ab_lo, cd_lo);
        const __m512i r2 = _mm512_unpacklo_epi16(ab_hi, cd_hi), r3 = _mm512_unpackhi_epi16(ab_hi, cd_hi);
        const __m512i t0 = _mm512_shuffle_i32x4(r0, r1, 0x44), t1 = _mm512_shuffle_i32x4(r2, r3, 0x44);
        const __m512i t2 = _mm512_shuffle_i32x4(r0, r1, 0xee), t3 = _mm512_shuffle_i32x4(r2, r3, 0xee);
        const __m512i entries[4] = {_mm512_shuffle_i32x4(t0, t1, 0x88), _mm512_shuffle_i32x4(t0, t1, 0xdd),
                                    _mm512_shuffle_i32x4(t2, t3, 0x88), _mm512_shuffle_i32x4(t2, t3, 0xdd)};
        for (int i = 0; i < 4 && 16 * i < left; ++i) {
            const int64_t rest = left - 16 * i;
            const __mmask16 m = rest >= 16 ? 0xffff : static_cast<__mmask16>((1u << rest) - 1);
            _mm512_mask_storeu_epi32(out + k + 16 * i, m, entries[i]);
        }
    }
}

// clahe_pixels_cells's weighted sums for 8-bit output, 16 pixels at a time:
// pairs(x) = wl[x] | wr[x] << 16 (each below 2^15), so that one multiply-add
// of 16-bit pairs gives a tile row's horizontal sum; the rounding division by
// 2d is a multiplication by m and a shift s >= 32 (ConstantDivisor), the high
// halves of 32 x 32-bit products.
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline void blend_cells_avx512(
    const uint32_t* packed, const int32_t* pairs, int32_t top_weight, int32_t bottom_weight, int64_t n, int32_t d,
    uint32_t multiplier, int shift, uint8_t low, uint8_t* out) {
    const __m512i bytes = _mm512_set1_epi32(0x00ff00ff), vt = _mm512_set1_epi32(top_weight);
    const __m512i vb = _mm512_set1_epi32(bottom_weight), vd = _mm512_set1_epi32(d);
    const __m512i vm = _mm512_set1_epi32(static_cast<int32_t>(multiplier)), vlow = _mm512_set1_epi32(low);
    const __m128i rest_shift = _mm_cvtsi32_si128(shift - 32);
    for (int64_t x = 0; x < n; x += 16) {
        const __mmask16 valid = n - x >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - x)) - 1);
        const __m512i p = _mm512_maskz_loadu_epi32(valid, packed + x);
        const __m512i w = _mm512_maskz_loadu_epi32(valid, pairs + x);
        const __m512i top = _mm512_madd_epi16(_mm512_and_si512(p, bytes), w);
        const __m512i bottom = _mm512_madd_epi16(_mm512_and_si512(_mm512_srli_epi32(p, 8), bytes), w);
        const __m512i acc = _mm512_add_epi32(_mm512_mullo_epi32(top, vt), _mm512_mullo_epi32(bottom, vb));
        const __m512i num = _mm512_add_epi32(_mm512_add_epi32(acc, acc), vd);
        const __m512i even = _mm512_srli_epi64(_mm512_mul_epu32(num, vm), 32);
        const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(num, 32), vm);
        const __m512i high = _mm512_mask_blend_epi32(0xaaaa, even, odd);
        const __m512i q = _mm512_add_epi32(_mm512_srl_epi32(high, rest_shift), vlow);
        _mm_mask_storeu_epi8(out + x, valid, _mm512_cvtepi32_epi8(q));
    }
}
#endif

// The packed tables of every cell, keyed by each axis's lower tile.  lut:
// ntiles x nbins levels, for the values first, first + 1, ...
template <class T>
void build_cell_tables(const T* lut, int64_t ty, int64_t tx, int64_t nbins, int64_t olo, Scratch<uint32_t>& cells) {
    cells.resize(static_cast<size_t>(ty * tx * nbins));
    for (int64_t ky = 0; ky < ty; ++ky) {
        for (int64_t kx = 0; kx < tx; ++kx) {
            const int64_t ky1 = std::min(ky + 1, ty - 1), kx1 = std::min(kx + 1, tx - 1);
            const T* tl = lut + (ky * tx + kx) * nbins;
            const T* bl = lut + (ky1 * tx + kx) * nbins;
            const T* tr = lut + (ky * tx + kx1) * nbins;
            const T* br = lut + (ky1 * tx + kx1) * nbins;
            uint32_t* cell = cells.data() + (ky * tx + kx) * nbins;
#ifdef HISTEQ_X86
            if constexpr (sizeof(T) == 1) {
                if (cpu_level() == 2) {
                    auto bytes = [](const T* p) { return reinterpret_cast<const uint8_t*>(p); };
                    pack_cell_avx512(bytes(tl), bytes(bl), bytes(tr), bytes(br), nbins, static_cast<uint8_t>(olo),
                                     cell);
                    continue;
                }
            }
#endif
            dispatch([&]() HISTEQ_INLINE {
                const T* __restrict a = tl;
                const T* __restrict b = bl;
                const T* __restrict c = tr;
                const T* __restrict d = br;
                uint32_t* __restrict to = cell;
                const uint32_t low = static_cast<uint32_t>(olo);
                const int64_t n = nbins;
                for (int64_t k = 0; k < n; ++k)
                    to[k] = (static_cast<uint32_t>(a[k]) - low) | (static_cast<uint32_t>(b[k]) - low) << 8 |
                            (static_cast<uint32_t>(c[k]) - low) << 16 | (static_cast<uint32_t>(d[k]) - low) << 24;
            });
        }
    }
}

// The weighted sums of one row's packed entries p, rounded halves up.
template <class T>
void blend_cell_row(const uint32_t* p, const LastAxisWeights& weights, int32_t wt, int32_t wb,
                    const HalfUpDivision& rounding, int64_t olo, int64_t width, T* dst) {
#ifdef HISTEQ_X86
    if constexpr (sizeof(T) == 1) {
        if (cpu_level() == 2 && weights.short_weights) {
            const ConstantDivisor& divide = rounding.twice_divisor();
            blend_cells_avx512(p, weights.pairs.data(), wt, wb, width, static_cast<int32_t>(rounding.denominator()),
                               divide.multiplier(), divide.shift(), static_cast<uint8_t>(olo),
                               reinterpret_cast<uint8_t*>(dst));
            return;
        }
    }
#endif
    dispatch([&]() HISTEQ_INLINE {
        // Locals: stores of a char type T could alias anything captured.
        const uint32_t* __restrict entries = p;
        const int32_t* __restrict left = weights.left.data();
        const int32_t* __restrict right = weights.right.data();
        T* __restrict to = dst;
        const HalfUpDivision round = rounding;
        const int32_t top_weight = wt, bottom_weight = wb, low = static_cast<int32_t>(olo);
        const int64_t n = width;
        for (int64_t x = 0; x < n; ++x) {
            const uint32_t v = entries[x];
            const int32_t top =
                left[x] * static_cast<int32_t>(v & 0xff) + right[x] * static_cast<int32_t>((v >> 16) & 0xff);
            const int32_t bottom =
                left[x] * static_cast<int32_t>((v >> 8) & 0xff) + right[x] * static_cast<int32_t>(v >> 24);
            const int32_t acc = top_weight * top + bottom_weight * bottom;
            to[x] = static_cast<T>(low + static_cast<int32_t>(round.at32(acc)));
        }
    });
}

// Every pixel of one image (see the top of this file).  lut: ntiles x nbins
// levels for the values first, first + 1, ...
template <class T>
void clahe_pixels_cells(const T* in, T* out, const AxisPlan& ay, const AxisPlan& ax, const Spec& spec, const T* lut,
                        int64_t first, int64_t nbins, double denominator, int threads, Scratch<uint32_t>& cells) {
    const int64_t width = ax.n, tx = ax.tiles;
    const int64_t olo = static_cast<int64_t>(spec.out_lo), span = static_cast<int64_t>(spec.out_hi - spec.out_lo);
    const HalfUpDivision rounding(static_cast<int64_t>(denominator), span);
    build_cell_tables(lut, ay.tiles, tx, nbins, olo, cells);
    const LastAxisWeights weights(ax);
    const std::vector<int64_t>& runs = weights.runs;
    parallel_for(ay.n, threads, row_grain(width), [&](int, int64_t yb, int64_t ye) {
        std::vector<uint32_t> packed(width);
        for (int64_t y = yb; y < ye; ++y) {
            const uint32_t* row_cells = cells.data() + ay.lower[y] * tx * nbins - first;
            const T* src = in + y * width;
            uint32_t* p = packed.data();
            for (size_t r = 0; r + 1 < runs.size(); ++r) {
                const int64_t x0 = runs[r], x1 = runs[r + 1];
                const uint32_t* __restrict cell = row_cells + ax.lower[x0] * nbins;
                for (int64_t x = x0; x < x1; ++x) p[x] = cell[static_cast<int64_t>(src[x])];
            }
            blend_cell_row(p, weights, static_cast<int32_t>(ay.w0[y]), static_cast<int32_t>(ay.w1[y]), rounding, olo,
                           width, out + y * width);
        }
    });
}

}  // namespace histeq
