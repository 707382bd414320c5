// CLAHE's tile plan and the geometry every phase reads from it: which pixels
// each tile holds, each pixel's two neighbouring tile centres and weights
// along every axis, and the index arithmetic over tiles and rows written once.
//
// The plan is made by the caller (histeq.clahe), so that the same plan serves
// every image of a batch; the binding checks it before any kernel reads it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "histeq/tables/equalize.hpp"

namespace histeq {

// One spatial axis of the plan: n pixels, `tiles` tiles.  Tile k holds the
// pixels [start[k], stop[k]); pixel i lies between the centres of tiles
// lower[i] and lower[i] + 1 with weights w0[i] and w1[i] (w1 = 0 at the borders).
struct AxisPlan {
    int64_t n, tiles;
    const int64_t* start;
    const int64_t* stop;
    const int32_t* lower;
    const double* w0;
    const double* w1;

    // The upper neighbour of lower tile k: at the border, k itself (read with weight 0).
    int64_t upper(int64_t k) const { return std::min(k + 1, tiles - 1); }
};

using Axes = std::vector<AxisPlan>;

inline int64_t tile_count(const Axes& axes) {
    int64_t n = 1;
    for (const AxisPlan& a : axes) n *= a.tiles;
    return n;
}

// Rows: the pixels along the last axis, one row per index of the other axes.
inline int64_t row_count(const Axes& axes) {
    int64_t n = 1;
    for (size_t d = 0; d + 1 < axes.size(); ++d) n *= axes[d].n;
    return n;
}

// Row-major strides over the tiles (tile_strides) or the pixels (pixel_strides) of one image.
inline std::vector<int64_t> tile_strides(const Axes& axes) {
    std::vector<int64_t> stride(axes.size(), 1);
    for (int d = static_cast<int>(axes.size()) - 2; d >= 0; --d) stride[d] = stride[d + 1] * axes[d + 1].tiles;
    return stride;
}

inline std::vector<int64_t> pixel_strides(const Axes& axes) {
    std::vector<int64_t> stride(axes.size(), 1);
    for (int d = static_cast<int>(axes.size()) - 2; d >= 0; --d) stride[d] = stride[d + 1] * axes[d + 1].n;
    return stride;
}

// index[d] for the leading axes d < ndim - 1 of row `row`.
inline void decode_row(int64_t row, const Axes& axes, int64_t* index) {
    for (int d = static_cast<int>(axes.size()) - 2; d >= 0; --d) {
        index[d] = row % axes[d].n;
        row /= axes[d].n;
    }
}

// The runs of an axis whose pixels share their lower tile (so read the same
// two tiles): run r is [runs[r], runs[r + 1]).
inline std::vector<int64_t> runs_by_lower(const AxisPlan& axis) {
    std::vector<int64_t> runs{0};
    for (int64_t i = 1; i < axis.n; ++i)
        if (axis.lower[i] != axis.lower[i - 1]) runs.push_back(i);
    runs.push_back(axis.n);
    return runs;
}

// Rows per parallel chunk: about kPixelGrain pixels.
inline int64_t row_grain(int64_t width) { return std::max<int64_t>(1, kPixelGrain / std::max<int64_t>(width, 1)); }

// The last axis's integer weights (integer images) in the forms the
// interpolation kernels read them.  left/right are capped at 2^30: the
// kernels read them as int32 only where the weighted sums fit in int32.
struct LastAxisWeights {
    std::vector<int32_t> left, right;
    std::vector<int32_t> pairs;  // left | right << 16, for 16-bit multiply-adds where short
    std::vector<int64_t> runs;   // runs_by_lower
    bool short_weights = true;   // every weight below 2^15

    explicit LastAxisWeights(const AxisPlan& a) : left(a.n), right(a.n), pairs(a.n), runs(runs_by_lower(a)) {
        for (int64_t x = 0; x < a.n; ++x) {
            left[x] = static_cast<int32_t>(std::min(a.w0[x], 0x1p30));
            right[x] = static_cast<int32_t>(std::min(a.w1[x], 0x1p30));
            short_weights = short_weights && left[x] < (1 << 15) && right[x] < (1 << 15);
            pairs[x] = static_cast<int32_t>(static_cast<uint32_t>(left[x]) | static_cast<uint32_t>(right[x]) << 16);
        }
    }
};

// The box of pixels of `tile` (row-major over the axes' tiles): [lo[d], hi[d]).
inline void tile_box(const Axes& axes, int64_t tile, std::vector<int64_t>& lo, std::vector<int64_t>& hi) {
    for (int d = static_cast<int>(axes.size()) - 1; d >= 0; --d) {
        const int64_t k = tile % axes[d].tiles;
        tile /= axes[d].tiles;
        lo[d] = axes[d].start[k];
        hi[d] = axes[d].stop[k];
    }
}

// fn(offset, length) for each row of the box [lo, hi) along the last axis,
// contiguous in memory; stride: the image's strides in pixels.
template <class Fn>
void for_each_box_row(const std::vector<int64_t>& lo, const std::vector<int64_t>& hi,
                      const std::vector<int64_t>& stride, std::vector<int64_t>& index, Fn&& fn) {
    const int ndim = static_cast<int>(lo.size());
    if (ndim == 2) {  // most images: no index bookkeeping per (often short) row
        for (int64_t y = lo[0]; y < hi[0]; ++y) fn(y * stride[0] + lo[1], hi[1] - lo[1]);
        return;
    }
    index = lo;
    for (;;) {
        int64_t offset = 0;
        for (int d = 0; d < ndim; ++d) offset += index[d] * stride[d];
        fn(offset, hi[ndim - 1] - lo[ndim - 1]);
        int d = ndim - 2;
        while (d >= 0 && ++index[d] == hi[d]) {
            index[d] = lo[d];
            --d;
        }
        if (d < 0) return;
    }
}

// Tile tables beyond `budget` bytes (no sane call needs them): refused before they are allocated.
inline void require_tables(double bytes, double budget) {
    if (bytes > budget) {
        throw std::invalid_argument("CLAHE would need " + std::to_string(static_cast<int64_t>(bytes / 1048576)) +
                                    " MiB of histograms and tables (tiles x bins), over the " +
                                    std::to_string(static_cast<int64_t>(budget / 1048576)) +
                                    " MiB a call on this input may take; use fewer bins or tiles");
    }
}

}  // namespace histeq
