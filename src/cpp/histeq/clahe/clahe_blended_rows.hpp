// CLAHE's interpolation kernel for 2-D integer images with one bin per level
// and few bins (8-bit) on wide images: each row first blends its two tile rows'
// tables vertically, so that a pixel then reads two table entries instead of
// four.  Exact: integer sums, rounded halves up.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "histeq/clahe/clahe_plan.hpp"
#include "histeq/clahe/clahe_rounding.hpp"
#include "histeq/tables/equalize.hpp"

namespace histeq {

// table: nbins levels above out_lo per tile, for the values first, first + 1, ...
template <class T, class Blend, bool kSmall>
void blended_rows(const T* in, T* out, const AxisPlan& ay, const AxisPlan& ax, int64_t first, int64_t nbins,
                  const std::vector<int32_t>& table, int64_t olo, const HalfUpDivision& rounding, int threads) {
    const int64_t width = ax.n, tiles_x = ax.tiles;
    const LastAxisWeights weights(ax);
    const std::vector<int64_t>& runs = weights.runs;
    parallel_for(ay.n, threads, row_grain(width), [&](int, int64_t yb, int64_t ye) {
        std::vector<Blend> blended(tiles_x * nbins);
        for (int64_t y = yb; y < ye; ++y) {
            const int64_t k = ay.lower[y];
            const int32_t* top = table.data() + k * tiles_x * nbins;
            const int32_t* bottom = table.data() + ay.upper(k) * tiles_x * nbins;
            const Blend wt = static_cast<Blend>(ay.w0[y]), wb = static_cast<Blend>(ay.w1[y]);
            Blend* row = blended.data();
            dispatch([&]() HISTEQ_INLINE {
                for (int64_t j = 0; j < tiles_x * nbins; ++j) row[j] = wt * top[j] + wb * bottom[j];
            });
            const T* __restrict src = in + y * width;
            T* __restrict dst = out + y * width;
            const int32_t* __restrict wl = weights.left.data();
            const int32_t* __restrict wr = weights.right.data();
            for (size_t r = 0; r + 1 < runs.size(); ++r) {
                const int64_t x0 = runs[r], x1 = runs[r + 1], kx = ax.lower[x0];
                const Blend* __restrict l = row + kx * nbins - first;
                const Blend* __restrict rt = row + ax.upper(kx) * nbins - first;
                for (int64_t x = x0; x < x1; ++x) {
                    const int64_t v = static_cast<int64_t>(src[x]);
                    const int64_t acc = int64_t{wl[x]} * l[v] + int64_t{wr[x]} * rt[v];
                    dst[x] = static_cast<T>(olo + rounding.template at<kSmall>(acc));
                }
            }
        }
    });
}

// The blend in int32 where the blended rows fit (at most the vertical
// denominator times the output span), else in int64.
template <class T>
void clahe_pixels_blended(const T* in, T* out, const AxisPlan& ay, const AxisPlan& ax, const Spec& spec, int64_t first,
                          int64_t nbins, const std::vector<int32_t>& table, double denominator, int threads) {
    const int64_t olo = static_cast<int64_t>(spec.out_lo), span = static_cast<int64_t>(spec.out_hi - spec.out_lo);
    const HalfUpDivision rounding(static_cast<int64_t>(denominator), span);
    int64_t vertical = 1;
    for (int64_t i = 0; i < ay.n; ++i) vertical = std::max(vertical, static_cast<int64_t>(ay.w0[i] + ay.w1[i]));
    const bool narrow = vertical * span < (int64_t{1} << 31);
    if (narrow && rounding.small()) {
        blended_rows<T, int32_t, true>(in, out, ay, ax, first, nbins, table, olo, rounding, threads);
    } else if (narrow) {
        blended_rows<T, int32_t, false>(in, out, ay, ax, first, nbins, table, olo, rounding, threads);
    } else {
        blended_rows<T, int64_t, false>(in, out, ay, ax, first, nbins, table, olo, rounding, threads);
    }
}

}  // namespace histeq
