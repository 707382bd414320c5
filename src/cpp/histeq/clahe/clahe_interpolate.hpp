// CLAHE's second phase, the general kernel: every pixel interpolated between
// the mappings of the 2^ndim tiles around it, multilinearly over the spatial
// axes, value by value.  It serves floats and integer images binned coarser
// than one bin per level; the faster kernels for one bin per level
// (clahe_cells.hpp, clahe_blended_rows.hpp, clahe_levels.hpp) give the same
// results.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "histeq/clahe/clahe_plan.hpp"
#include "histeq/clahe/clahe_tables.hpp"
#include "histeq/tables/equalize.hpp"

namespace histeq {

// The tiles of the corners of one row's pixels, but for the last axis's
// part: bit (ndim - 1 - d) of corner c picks the upper tile along axis d, and
// corners c and c + 1 (bit 0: the last axis) share their entry.
inline void row_corner_tiles(const Axes& axes, const int64_t* index, const std::vector<int64_t>& tile_stride,
                             int64_t* corner_tile) {
    const int ndim = static_cast<int>(axes.size());
    for (int c = 0; c < (1 << ndim); c += 2) {
        int64_t t = 0;
        for (int d = 0; d < ndim - 1; ++d) {
            const int64_t k = axes[d].lower[index[d]];
            t += ((c >> (ndim - 1 - d)) & 1 ? axes[d].upper(k) : k) * tile_stride[d];
        }
        corner_tile[c] = corner_tile[c + 1] = t;
    }
}

// The corners' values interpolated along every axis in place, the last axis
// first and the first outermost; returns the result.  x: the pixel's index
// along the last axis, index: along the others.
inline double interpolate_corners(double* value, const Axes& axes, const int64_t* index, int64_t x) {
    const int ndim = static_cast<int>(axes.size());
    int n = 1 << ndim;
    for (int d = ndim - 1; d >= 0; --d) {
        const int64_t i = d == ndim - 1 ? x : index[d];
        const double w0 = axes[d].w0[i], w1 = axes[d].w1[i];
        for (int j = 0; j < n / 2; ++j) value[j] = w0 * value[2 * j] + w1 * value[2 * j + 1];
        n /= 2;
    }
    return value[0];
}

// round(acc / denominator), halves up, exactly: acc and the denominator are
// integers below 2^51.
inline int64_t round_half_up(double acc, double denominator) {
    double q = std::floor(acc / denominator + 0.5);
    while (q > 0 && (2 * q - 1) * denominator > 2 * acc) q -= 1;
    while ((2 * q + 1) * denominator <= 2 * acc) q += 1;
    return static_cast<int64_t>(q);
}

// Where a pixel's value falls in the bins: bin b, and (floats) its position t
// in units of bins and nan_or_zero (NaN for a NaN pixel, else 0, added to the
// result so that NaN stays NaN).
struct PixelBin {
    int64_t b = 0;
    double t = 0, nan_or_zero = 0;
};

template <class T, class Bins>
PixelBin pixel_bin(T v, const Bins& bins, int64_t nbins) {
    PixelBin at;
    if constexpr (is_float_v<T>) {
        const double above_lo = v < bins.lo ? bins.lo : static_cast<double>(v);
        const double clipped = above_lo > bins.hi ? bins.hi : above_lo;
        at.nan_or_zero = clipped - clipped;
        at.t = bins.position(clipped == clipped ? clipped : bins.lo);
        at.b = std::min<int64_t>(static_cast<int64_t>(at.t), nbins);
    } else {
        at.b = bins(static_cast<int64_t>(v));
    }
    return at;
}

// Tile `tile`'s level for the pixel v (integers: above out_lo).
template <class T>
double tile_level(const ClaheMaps<T>& maps, const Spec& spec, int64_t tile, T v, const PixelBin& at) {
    if (maps.identity[tile]) {
        const double y = static_cast<double>(rescale(v, spec));
        if constexpr (is_float_v<T>) return y == y ? y : 0.0;
        return y - spec.out_lo;
    }
    if constexpr (is_float_v<T>) {
        const size_t row = static_cast<size_t>(tile * (spec.nbins + 1));
        return maps.level[row + at.b] + (at.t - static_cast<double>(at.b)) * maps.slope[row + at.b];
    }
    return static_cast<double>(maps.lut[maps.offset[tile] + at.b - maps.first[tile]]) - spec.out_lo;
}

// Every pixel of one image.  denominator: the product of the integer weight
// denominators (integer images), so that the weighted sum of integer levels
// is exact and rounds halves up.
template <class T, class Bins>
void clahe_pixels(const T* in, T* out, const Axes& axes, const Spec& spec, const Bins& bins, const ClaheMaps<T>& maps,
                  double denominator, int threads) {
    const int ndim = static_cast<int>(axes.size());
    const AxisPlan& last = axes[ndim - 1];
    const int64_t width = last.n;
    const std::vector<int64_t> tile_stride = tile_strides(axes);
    const int corners = 1 << ndim;
    parallel_for(row_count(axes), threads, row_grain(width), [&](int, int64_t rb, int64_t re) {
        std::vector<int64_t> corner_tile(corners), index(ndim);
        std::vector<double> value(corners);
        for (int64_t row = rb; row < re; ++row) {
            decode_row(row, axes, index.data());
            row_corner_tiles(axes, index.data(), tile_stride, corner_tile.data());
            const T* src = in + row * width;
            T* dst = out + row * width;
            for (int64_t x = 0; x < width; ++x) {
                const PixelBin at = pixel_bin(src[x], bins, spec.nbins);
                const int64_t kx = last.lower[x];
                for (int c = 0; c < corners; ++c)
                    value[c] = tile_level(maps, spec, corner_tile[c] + (c & 1 ? last.upper(kx) : kx), src[x], at);
                const double y = interpolate_corners(value.data(), axes, index.data(), x);
                if constexpr (is_float_v<T>) {
                    dst[x] = static_cast<T>(y + at.nan_or_zero);
                } else {
                    dst[x] = static_cast<T>(static_cast<int64_t>(spec.out_lo) + round_half_up(y, denominator));
                }
            }
        }
    });
}

}  // namespace histeq
