// Clipping a tile's histogram for CLAHE, and the cumulative sums of the
// clipped histogram that its mapping is built from.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "histeq/runtime/simd.hpp"

#ifdef HISTEQ_X86
#include <immintrin.h>
#endif

namespace histeq {

// Clipping with redistribution: h' = min(h, t) + (c - t), c = clip x the mean
// bin height, where t <= c solves sum(max(h - t, 0)) = nbins (c - t).  The
// clipped mass lifts every bin equally and no bin ends above c, unlike a single
// redistribution pass.  Newton's method from t = c is exact on this convex
// piecewise-linear equation: it stops on the piece that holds the root, and t
// is that piece's root, nbins c - (sum of the bins above t)) / (nbins - their
// count).  Empty bins are never above t >= 0, so `counts` may hold any subset
// of the bins that includes the occupied ones.
struct Clipped {
    bool clipped;      // false: h' = h
    double threshold;  // t
    double lift;       // c - t
};

// For an integer count h and 0 <= t < 2^62, h > t exactly when h > floor(t):
// integer comparisons, which vectorize.
inline int64_t floor_of(double t) { return static_cast<int64_t>(t < 0x1p62 ? std::floor(t) : 0x1p62); }

// occupied: how many counts are above 0 (those above level 0 need no pass:
// on small tiles, with few counts per bin, the iteration mostly ends there).
inline Clipped clip_histogram(const int64_t* counts, int64_t length, int64_t nbins, int64_t total, int64_t occupied,
                              double clip) {
    Clipped r{false, 0, 0};
    if (clip < 0) return r;
    const double count = static_cast<double>(nbins), mean = static_cast<double>(total) / count;
    double limit = clip * static_cast<double>(total) / count;
    limit = limit > mean ? limit : mean;
    // (how many counts exceed t, their sum)
    auto above = [&](double t, int64_t& sum) {
        const int64_t level = floor_of(t);
        if (level == 0) {
            sum = total;
            return occupied;
        }
        int64_t m = 0, s = 0;
        dispatch([&]() HISTEQ_INLINE {
            // Locals: sums through the captured references would go to memory.
            const int64_t* __restrict c = counts;
            const int64_t n = length, l = level;
            int64_t mm = 0, ss = 0;
            for (int64_t j = 0; j < n; ++j) {
                mm += c[j] > l;
                ss += c[j] > l ? c[j] : 0;
            }
            m = mm;
            s = ss;
        });
        sum = s;
        return m;
    };
    int64_t sum = 0, m = above(limit, sum);
    if (m == 0) return r;
    r.clipped = true;
    double t = limit;
    for (;;) {
        if (m == nbins) {  // the limit is the mean: every bin becomes the mean
            r.threshold = 0;
            r.lift = mean;
            return r;
        }
        t = (count * limit - static_cast<double>(sum)) / static_cast<double>(nbins - m);
        int64_t next_sum = 0;
        const int64_t next = above(t, next_sum);
        if (next == m) break;
        m = next;
        sum = next_sum;
    }
    r.threshold = t;
    r.lift = limit - t;
    return r;
}

// The cumulative clipped histogram F(k) = S(k) + n(k) t + (k + 1) lift at the
// bins [first, first + width), where S(k) sums the counts up to k that are not
// above t and n(k) counts those above: integer sums, then one formula per bin,
// so no bin's value waits on another's rounding.  The histogram must be empty
// below first.  Unclipped: the plain cumulative histogram.
#ifdef HISTEQ_X86
// AVX-512, where the window's counts sum below 2^32: S and n packed in one
// 64-bit lane (S << 32 | n), so one in-register prefix sum (three shifted
// adds) carries both, eight bins at a time.  Out = double: F itself; an
// integer type of at most 32 bits: the levels low + floor((F - shift) factor
// + 1/2), as tile_mapping rounds them, without storing F.
template <class Out>
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))) void clipped_cumulative_avx512(
    const int64_t* counts, int64_t width, int64_t level, double t, double lift, double base, Out* out, double shift = 0,
    double factor = 0, int64_t low = 0) {
    const __m512i zero = _mm512_setzero_si512(), limit = _mm512_set1_epi64(level), one = _mm512_set1_epi64(1);
    const __m512i low32 = _mm512_set1_epi64(0xffffffff), last = _mm512_set1_epi64(7), vlow = _mm512_set1_epi64(low);
    const __m512d vt = _mm512_set1_pd(t), vlift = _mm512_set1_pd(lift), vshift = _mm512_set1_pd(shift);
    const __m512d vfactor = _mm512_set1_pd(factor), half = _mm512_set1_pd(0.5);
    const __m512d steps = _mm512_setr_pd(0, 1, 2, 3, 4, 5, 6, 7);
    __m512i carry = zero;
    for (int64_t k = 0; k < width; k += 8) {
        const __mmask8 valid = static_cast<__mmask8>(width - k >= 8 ? 0xff : (1u << (width - k)) - 1);
        const __m512i h = _mm512_maskz_loadu_epi64(valid, counts + k);
        const __mmask8 over = _mm512_cmpgt_epi64_mask(h, limit);
        __m512i packed = _mm512_mask_blend_epi64(over, _mm512_slli_epi64(h, 32), one);
        packed = _mm512_add_epi64(packed, _mm512_alignr_epi64(packed, zero, 7));
        packed = _mm512_add_epi64(packed, _mm512_alignr_epi64(packed, zero, 6));
        packed = _mm512_add_epi64(packed, _mm512_alignr_epi64(packed, zero, 4));
        packed = _mm512_add_epi64(packed, carry);
        carry = _mm512_permutexvar_epi64(last, packed);
        const __m512d below = _mm512_cvtepi64_pd(_mm512_srli_epi64(packed, 32));
        const __m512d above = _mm512_cvtepi64_pd(_mm512_and_si512(packed, low32));
        const __m512d position = _mm512_add_pd(_mm512_set1_pd(base + static_cast<double>(k)), steps);
        const __m512d f = _mm512_add_pd(_mm512_add_pd(below, _mm512_mul_pd(above, vt)), _mm512_mul_pd(position, vlift));
        if constexpr (std::is_same<Out, double>::value) {
            _mm512_mask_storeu_pd(out + k, valid, f);
        } else {
            const __m512d x = _mm512_add_pd(_mm512_mul_pd(_mm512_sub_pd(f, vshift), vfactor), half);
            const __m512i q = _mm512_add_epi64(vlow, _mm512_cvttpd_epi64(x));
            if constexpr (sizeof(Out) == 1) {
                _mm512_mask_cvtepi64_storeu_epi8(out + k, valid, q);
            } else if constexpr (sizeof(Out) == 2) {
                _mm512_mask_cvtepi64_storeu_epi16(out + k, valid, q);
            } else {
                static_assert(sizeof(Out) == 4, "levels of at most 32 bits");
                _mm512_mask_cvtepi64_storeu_epi32(out + k, valid, q);
            }
        }
    }
}
#endif

inline void clipped_cumulative(const int64_t* hist, int64_t first, int64_t width, const Clipped& c, double* cum,
                               int64_t total) {
    const int64_t level = c.clipped ? floor_of(c.threshold) : std::numeric_limits<int64_t>::max();
    const double t = c.threshold, lift = c.lift, base = static_cast<double>(first + 1);
#ifdef HISTEQ_X86
    if (cpu_level() == 2 && total < (int64_t{1} << 32)) {
        clipped_cumulative_avx512<double>(hist + first, width, level, t, lift, base, cum);
        return;
    }
#endif
    // The integer prefix sums first (a 1-cycle chain), then the rounding
    // formula, independent per bin.
    thread_local std::vector<int64_t> below, over;
    below.resize(width);
    over.resize(width);
    int64_t b = 0, o = 0;
    for (int64_t k = 0; k < width; ++k) {
        const int64_t h = hist[first + k], is_over = h > level;
        b += h & (is_over - 1);  // branch-free: which bins are over is unpredictable
        o += is_over;
        below[k] = b;
        over[k] = o;
    }
    dispatch([&]() HISTEQ_INLINE {
        const int64_t* __restrict bs = below.data();
        const int64_t* __restrict os = over.data();
        double* __restrict f = cum;
        const int64_t n = width;
        for (int64_t k = 0; k < n; ++k)
            f[k] =
                (static_cast<double>(bs[k]) + static_cast<double>(os[k]) * t) + (base + static_cast<double>(k)) * lift;
    });
}

// What a tile's histogram is clipped against.  limit < 0: no clipping.
// groups == 0: the limit is a multiple of the mean of all bins, and the
// clipped mass lifts every bin (OpenCV's rule, kept for 8-bit images).
// groups > 0: the limit is measured on groups of bins spanning [lo, hi], the
// bins that the image's counted values occupy (grouped_cumulative).
struct ClipRule {
    double limit = -1;
    int64_t groups = 0;
    int64_t lo = 0, hi = -1;

    bool grouped() const { return limit >= 0 && groups > 0; }
};

// The bins [lo, hi] of a ClipRule cut into G = min(groups, hi - lo + 1)
// groups of consecutive bins, bin b in group floor((2 (b - lo) + 1) G / 2S),
// S = hi - lo + 1 (each bin's centre decides), so that on data of any depth
// a group is what one level of the same data quantized to G levels holds.
struct BinGroups {
    int64_t lo, span, count;

    explicit BinGroups(const ClipRule& rule)
        : lo(rule.lo), span(rule.hi - rule.lo + 1), count(std::min(rule.groups, rule.hi - rule.lo + 1)) {}
    int64_t of(int64_t bin) const { return (2 * (bin - lo) + 1) * count / (2 * span); }
    // The first bin of group g: the least b with (2 (b - lo) + 1) G >= 2 g S.
    int64_t start(int64_t g) const {
        const int64_t num = 2 * g * span - count;
        return lo + (num <= 0 ? 0 : (num + 2 * count - 1) / (2 * count));
    }
};

// The cumulative clipped histogram F at the bins [first, first + width) for
// a grouped ClipRule; the histogram must be empty outside those bins and
// outside [rule.lo, rule.hi].  The group totals H are clipped as
// clip_histogram does (the limit a multiple of their mean); each bin keeps its
// share of its group's clipped total, h min(H, t) / H, and the lift spreads
// evenly over the group's bins.  With P the counts of bin b's group up to b,
// w its width and g its index, S and n the totals of the groups before it not
// above t and their number above it:
//
//     F(b) = (S + n t + g lift) + P min(H, t) / H + (b - start + 1) (lift / w)
//
// one formula per bin, so no bin waits on another's rounding.  Bins below the
// range get 0, bins above it the pixel count.  False when no group exceeds
// the limit: F is then the plain cumulative histogram, left to the caller.
// first_level: F(rule.lo), the least F of an occupied bin.
#ifdef HISTEQ_X86
// One run of bins of a group: F = (base + P kept) + (position + k) step, P
// the counts up to each bin, as an in-register prefix sum eight bins at a
// time (three shifted adds and the carry of the previous eight): the same
// values as the scalar loop, without its chain through memory.
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))) inline void grouped_run_avx512(
    const int64_t* counts, int64_t width, double base, double kept, double position, double step, double* out) {
    const __m512i zero = _mm512_setzero_si512(), last = _mm512_set1_epi64(7);
    const __m512d vbase = _mm512_set1_pd(base), vkept = _mm512_set1_pd(kept), vstep = _mm512_set1_pd(step);
    const __m512d lanes = _mm512_setr_pd(0, 1, 2, 3, 4, 5, 6, 7);
    __m512i carry = zero;
    for (int64_t k = 0; k < width; k += 8) {
        const __mmask8 valid = static_cast<__mmask8>(width - k >= 8 ? 0xff : (1u << (width - k)) - 1);
        __m512i p = _mm512_maskz_loadu_epi64(valid, counts + k);
        p = _mm512_add_epi64(p, _mm512_alignr_epi64(p, zero, 7));
        p = _mm512_add_epi64(p, _mm512_alignr_epi64(p, zero, 6));
        p = _mm512_add_epi64(p, _mm512_alignr_epi64(p, zero, 4));
        p = _mm512_add_epi64(p, carry);
        carry = _mm512_permutexvar_epi64(last, p);
        const __m512d at = _mm512_add_pd(_mm512_set1_pd(position + static_cast<double>(k)), lanes);
        const __m512d f =
            _mm512_add_pd(_mm512_add_pd(vbase, _mm512_mul_pd(_mm512_cvtepi64_pd(p), vkept)), _mm512_mul_pd(at, vstep));
        _mm512_mask_storeu_pd(out + k, valid, f);
    }
}
#endif

inline bool grouped_cumulative(const int64_t* hist, int64_t first, int64_t width, const ClipRule& rule, int64_t total,
                               double* cum, double& first_level) {
    const BinGroups groups(rule);
    const int64_t begin = std::min(std::max(first, rule.lo), first + width);
    const int64_t end = std::max(begin, std::min(first + width, rule.hi + 1));
    // The groups that overlap the window, as runs of bins (no division per bin).
    const int64_t g_begin = begin < end ? groups.of(begin) : 0, g_end = begin < end ? groups.of(end - 1) + 1 : 0;
    auto run = [&](int64_t g, int64_t& lo, int64_t& hi) {
        lo = std::max(groups.start(g), begin);
        hi = std::min(groups.start(g + 1), end);
    };
    thread_local std::vector<int64_t> sums;
    sums.assign(groups.count, 0);
    int64_t occupied = 0;
    dispatch([&]() HISTEQ_INLINE {
        for (int64_t g = g_begin; g < g_end; ++g) {
            int64_t lo, hi, sum = 0;
            run(g, lo, hi);
            const int64_t* __restrict h = hist;
            for (int64_t b = lo; b < hi; ++b) sum += h[b];
            sums[g] = sum;
            occupied += sum != 0;
        }
    });
    const Clipped c = clip_histogram(sums.data(), groups.count, groups.count, total, occupied, rule.limit);
    if (!c.clipped) return false;
    int64_t below = 0, over = 0;  // over the groups before g: the total of those not above t, the number above
    for (int64_t g = 0; g < groups.count; ++g) {
        const int64_t h = sums[g];
        const bool is_over = static_cast<double>(h) > c.threshold;
        const double share = is_over ? c.threshold / static_cast<double>(h) : 1.0;
        const double step = c.lift / static_cast<double>(groups.start(g + 1) - groups.start(g));
        if (g == 0) {
            const int64_t lo_count = rule.lo >= first && rule.lo < first + width ? hist[rule.lo] : 0;
            first_level = static_cast<double>(lo_count) * share + step;
        }
        if (g >= g_begin && g < g_end) {
            const double base = (static_cast<double>(below) + static_cast<double>(over) * c.threshold) +
                                static_cast<double>(g) * c.lift;
            int64_t lo, hi, partial = 0;
            run(g, lo, hi);
            double* f = cum + (lo - first);
            const int64_t n = hi - lo;
            const double position = static_cast<double>(lo - groups.start(g) + 1);
#ifdef HISTEQ_X86
            if (cpu_level() == 2) {
                grouped_run_avx512(hist + lo, n, base, share, position, step, f);
                below += is_over ? 0 : h;
                over += is_over;
                continue;
            }
#endif
            for (int64_t b = lo; b < hi; ++b) {  // the group's counts up to b: exact in a double
                partial += hist[b];
                f[b - lo] = static_cast<double>(partial);
            }
            dispatch([&]() HISTEQ_INLINE {
                double* __restrict out = f;
                for (int64_t k = 0; k < n; ++k)
                    out[k] = (base + out[k] * share) + (position + static_cast<double>(k)) * step;
            });
        }
        below += is_over ? 0 : h;
        over += is_over;
    }
    std::fill(cum, cum + (begin - first), 0.0);
    std::fill(cum + (end - first), cum + width, static_cast<double>(total));
    return true;
}

}  // namespace histeq
