// Contrast-limited adaptive histogram equalization (CLAHE) of a batch of
// n-dimensional images, in two phases over index ranges: one mapping per tile
// (contextual region), then every pixel interpolated between the mappings of
// the tiles around it, multilinearly over the spatial axes.
//
// The tile geometry (which pixels each tile holds, and each pixel's two
// neighbouring tile centres and weights along every axis) is planned by the
// caller, so that the same plan serves every image of a batch.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "clip.hpp"
#include "equalize.hpp"

#ifdef HISTEQ_X86
#include <immintrin.h>
#endif

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
};

// A growable array whose new elements are left uninitialized: tables that
// are written in full before they are read need no clearing (16-bit tables
// of many tiles run to megabytes).
template <class T>
class Scratch {
   public:
    void resize(size_t n) {
        if (n > capacity_) {
            data_.reset(new T[n]);
            capacity_ = n;
        }
        size_ = n;
    }
    bool empty() const { return size_ == 0; }
    size_t bytes() const { return capacity_ * sizeof(T); }
    void release() {
        data_.reset();
        size_ = capacity_ = 0;
    }
    T* data() { return data_.get(); }
    const T* data() const { return data_.get(); }
    T* begin() { return data_.get(); }
    T& operator[](size_t i) { return data_[i]; }
    const T& operator[](size_t i) const { return data_[i]; }

   private:
    std::unique_ptr<T[]> data_;
    size_t size_ = 0, capacity_ = 0;
};

template <class T>
struct ClaheMaps {
    // Per tile: identity[tile] (nothing to equalize), and either integer
    // levels lut[offset[tile] + k - first[tile]] for the bins [first[tile],
    // first[tile] + width[tile]) that the pixels reading the tile's mapping
    // fall in, or float levels and slopes (nbins + 1 each).
    std::vector<char> identity;
    Scratch<T> lut;
    std::vector<int64_t> first, width, offset;
    std::vector<double> level, slope;
    Scratch<int64_t> hists;  // clahe_tiles's, per worker: each tile clears the bins it counts in

    // Every tile over the same bins.
    void uniform(int64_t ntiles, int64_t first_bin, int64_t bins) {
        first.assign(ntiles, first_bin);
        width.assign(ntiles, bins);
        offset.resize(ntiles);
        for (int64_t t = 0; t < ntiles; ++t) offset[t] = t * bins;
        lut.resize(ntiles * bins);
    }
};

// The box of pixels of `tile` (row-major over the axes' tiles): [lo[d], hi[d]).
inline void tile_box(const std::vector<AxisPlan>& axes, int64_t tile, std::vector<int64_t>& lo,
                     std::vector<int64_t>& hi) {
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

inline std::vector<int64_t> pixel_strides(const std::vector<AxisPlan>& axes) {
    const int ndim = static_cast<int>(axes.size());
    std::vector<int64_t> stride(ndim, 1);
    for (int d = ndim - 2; d >= 0; --d) stride[d] = stride[d + 1] * axes[d + 1].n;
    return stride;
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

// Per-tile bin windows for integer images: a tile's table needs only the bins
// between the darkest and the brightest value of the pixels that read it.  On
// images whose brightness varies across the field this is far less than the
// image's range: less table to build, and less to keep in cache.
//
// Along an axis, pixel i reads tiles lower[i] and min(lower[i] + 1, tiles -
// 1), the second with weight w1[i], which may be 0 (borders, tile centres):
// the interpolation reads it all the same, so the windows must hold such
// values too.  Put pixel i in cell lower[i]; every reader of tile t then lies
// in cells t - 1 or t along each axis.
//
// layer_tiles > 0: the tables of each layer of layer_tiles tiles (along the
// first axis) in one of two slots, layer k in slot k % 2, one after another
// within it; else every table after the other.  Tables over `budget` bytes
// are refused (require_tables).
template <class T, class Bins>
void tile_windows(const T* in, const std::vector<AxisPlan>& axes, const Bins& bins, int threads,
                  ClaheMaps<T>& maps, int64_t layer_tiles, double budget) {
    const int ndim = static_cast<int>(axes.size());
    std::vector<std::vector<int64_t>> cell(ndim);
    std::vector<int64_t> cell_stride(ndim, 1);
    for (int d = 0; d < ndim; ++d) {
        cell[d].resize(axes[d].n);
        for (int64_t i = 0; i < axes[d].n; ++i) cell[d][i] = axes[d].lower[i];
    }
    for (int d = ndim - 2; d >= 0; --d) cell_stride[d] = cell_stride[d + 1] * axes[d + 1].tiles;
    const int64_t ncells = cell_stride[0] * axes[0].tiles, width = axes[ndim - 1].n;
    std::vector<int64_t> run_start{0};  // runs of a row in one cell
    const std::vector<int64_t>& last_cell = cell[ndim - 1];
    for (int64_t x = 1; x < width; ++x)
        if (last_cell[x] != last_cell[x - 1]) run_start.push_back(x);
    run_start.push_back(width);
    int64_t rows = 1;
    for (int d = 0; d < ndim - 1; ++d) rows *= axes[d].n;
    const int64_t grain = std::max<int64_t>(1, kPixelGrain / std::max<int64_t>(width, 1));
    const int workers = plan_workers(rows, threads, grain);
    std::vector<T> low(workers * ncells, std::numeric_limits<T>::max());
    std::vector<T> high(workers * ncells, std::numeric_limits<T>::lowest());
    parallel_for(rows, threads, grain, [&](int w, int64_t rb, int64_t re) {
        T* lo = low.data() + w * ncells;
        T* hi = high.data() + w * ncells;
        for (int64_t row = rb; row < re; ++row) {
            int64_t rest = row, lead = 0;
            for (int d = ndim - 2; d >= 0; --d) {
                lead += cell[d][rest % axes[d].n] * cell_stride[d];
                rest /= axes[d].n;
            }
            const T* src = in + row * width;
            dispatch([&]() HISTEQ_INLINE {
                for (size_t r = 0; r + 1 < run_start.size(); ++r) {
                    const int64_t x0 = run_start[r], x1 = run_start[r + 1], c = lead + last_cell[x0];
                    T a = lo[c], b = hi[c];
                    for (int64_t x = x0; x < x1; ++x) {
                        a = src[x] < a ? src[x] : a;
                        b = src[x] > b ? src[x] : b;
                    }
                    lo[c] = a;
                    hi[c] = b;
                }
            });
        }
    });
    for (int w = 1; w < workers; ++w) {
        for (int64_t c = 0; c < ncells; ++c) {
            low[c] = std::min(low[c], low[w * ncells + c]);
            high[c] = std::max(high[c], high[w * ncells + c]);
        }
    }
    int64_t ntiles = 1;
    for (const AxisPlan& a : axes) ntiles *= a.tiles;
    maps.first.resize(ntiles);
    maps.width.resize(ntiles);
    maps.offset.resize(ntiles);
    std::vector<int64_t> k(ndim);
    const int corners = 1 << ndim;
    int64_t total = 0;
    for (int64_t tile = 0; tile < ntiles; ++tile) {
        int64_t rest = tile;
        for (int d = ndim - 1; d >= 0; --d) {
            k[d] = rest % axes[d].tiles;
            rest /= axes[d].tiles;
        }
        T a = std::numeric_limits<T>::max(), b = std::numeric_limits<T>::lowest();
        for (int corner = 0; corner < corners; ++corner) {
            int64_t c = 0;
            for (int d = 0; d < ndim; ++d) c += std::max<int64_t>(k[d] - ((corner >> d) & 1), 0) * cell_stride[d];
            a = std::min(a, low[c]);  // an empty cell holds (max, lowest): no effect
            b = std::max(b, high[c]);
        }
        const int64_t first = a <= b ? bins(static_cast<int64_t>(a)) : 0;
        const int64_t bins_wide = a <= b ? bins(static_cast<int64_t>(b)) - first + 1 : 1;
        maps.first[tile] = first;
        maps.width[tile] = bins_wide;
        maps.offset[tile] = total;
        total += bins_wide;
    }
    if (layer_tiles > 0 && layer_tiles < ntiles) {
        int64_t slot = 0;
        for (int64_t t0 = 0; t0 < ntiles; t0 += layer_tiles) {
            const int64_t last = t0 + layer_tiles - 1;
            slot = std::max(slot, maps.offset[last] + maps.width[last] - maps.offset[t0]);
        }
        for (int64_t t0 = 0; t0 < ntiles; t0 += layer_tiles) {
            const int64_t shift = (t0 / layer_tiles % 2) * slot - maps.offset[t0];
            for (int64_t t = t0; t < t0 + layer_tiles; ++t) maps.offset[t] += shift;
        }
        total = 2 * slot;
    }
    require_tables(static_cast<double>(total) * sizeof(T), budget);
    maps.lut.resize(total);
}

// The mapping of one tile from its histogram: global equalization of the
// clipped histogram, whose cumulative sum is F (clipped_cumulative, or
// grouped_cumulative for a grouped rule; integers: levels rounded halves up,
// exactly equalizing_lut's when nothing is clipped; floats: the
// piecewise-linear map of equalize_float).  Integer levels are written for
// the bins [first, first + width) only, to lut[0, width); the histogram must
// be empty outside them, so the work is O(width).  False when fewer than two
// bins are occupied.  cum: width entries.
template <class T>
bool tile_mapping(const int64_t* hist, const Spec& spec, const ClipRule& clip, int64_t first, int64_t width,
                  double* cum, T* lut, double* level, double* slope) {
    const int64_t nbins = spec.nbins;
    const int64_t* window = hist + first;
    int64_t occupied = 0, total = 0;
    dispatch([&]() HISTEQ_INLINE {
        const int64_t* __restrict w = window;
        const int64_t n = width;
        int64_t o = 0, sum = 0;
        for (int64_t k = 0; k < n; ++k) {
            o += w[k] != 0;
            sum += w[k];
        }
        occupied = o;
        total = sum;
    });
    if (occupied < 2) return false;
    const double span = spec.out_hi - spec.out_lo;
    // Grouped: F in cum, and c_min its value at the bottom of the counted range.
    double c_min = 0;
    const bool grouped = clip.grouped() && grouped_cumulative(hist, first, width, clip, total, cum, c_min);
    // A grouped rule that clips nothing leaves the plain cumulative histogram.
    const Clipped c = clip.grouped() ? Clipped{false, 0, 0}
                                     : clip_histogram(window, width, nbins, total, occupied, clip.limit);
    if constexpr (is_float_v<T>) {
        if (!grouped) clipped_cumulative(hist, 0, nbins, c, cum, total);
        level[0] = spec.out_lo;
        for (int64_t k = 1; k <= nbins; ++k) level[k] = spec.out_lo + span * (cum[k - 1] / cum[nbins - 1]);
        for (int64_t k = 0; k < nbins; ++k) slope[k] = level[k + 1] - level[k];
        slope[nbins] = 0;
        return true;
    }
    if (!grouped && !c.clipped) {
        equalizing_lut(hist, spec, lut, first, width);
        return true;
    }
    const int64_t olo = static_cast<int64_t>(spec.out_lo);
    if (!grouped) {
        // Every bin is lifted, so bin 0 is the first occupied: c_min = F(0);
        // the clipped histogram still sums to the pixel count.
        const double h0 = first == 0 ? static_cast<double>(hist[0]) : 0.0;
        c_min = (h0 > c.threshold ? c.threshold : h0) + c.lift;
#ifdef HISTEQ_X86
        if constexpr (sizeof(T) <= 4) {
            if (cpu_level() == 2 && total < (int64_t{1} << 32)) {
                clipped_cumulative_avx512(hist + first, width, floor_of(c.threshold), c.threshold, c.lift,
                                          static_cast<double>(first + 1), lut, c_min,
                                          span / (static_cast<double>(total) - c_min), olo);
                return true;
            }
        }
#endif
        clipped_cumulative(hist, first, width, c, cum, total);
    }
    const double scale = span / (static_cast<double>(total) - c_min);
    dispatch([&]() HISTEQ_INLINE {
        // Locals: T may be a char type, whose stores could alias the captures.
        const double* __restrict f = cum;
        T* __restrict out = lut;
        const int64_t n = width, low = olo;
        const double shift = c_min, factor = scale;
        for (int64_t k = 0; k < n; ++k) {
            // Bins below the counted range (grouped) sit below c_min: the bottom level.
            const double x = (f[k] > shift ? f[k] - shift : 0.0) * factor + 0.5;
            out[k] = static_cast<T>(low + static_cast<int64_t>(x));  // x >= 0.5: truncation is floor
        }
    });
    return true;
}

// Histograms and mappings of the tiles [tile_begin, tile_end) of one image.
template <class T, class Bins>
void clahe_tiles(const T* in, const bool* mask, const std::vector<AxisPlan>& axes, const Spec& spec,
                 const Bins& bins, const ClipRule& clip, int threads, ClaheMaps<T>& maps, int64_t tile_begin,
                 int64_t tile_end, int slot = -1) {
    const int ndim = static_cast<int>(axes.size());
    const int64_t nbins = spec.nbins;
    const std::vector<int64_t> stride = pixel_strides(axes);
    const int workers = plan_workers(tile_end - tile_begin, threads, 1);
    // Floats count pixels that are not counted in a spare bin.  slot >= 0: one
    // thread, histogram slot `slot` of maps.hists, which the caller sized.
    if (slot < 0) maps.hists.resize(static_cast<size_t>(workers) * (nbins + 1));
    int64_t widest = nbins;
    if constexpr (!is_float_v<T>) widest = *std::max_element(maps.width.begin(), maps.width.end());
    struct TileScratch {
        std::vector<double> cum;
        std::vector<int64_t> index, lo, hi;
    };
    std::vector<TileScratch> scratch(workers, TileScratch{std::vector<double>(widest), std::vector<int64_t>(ndim),
                                                  std::vector<int64_t>(ndim), std::vector<int64_t>(ndim)});
    // Tiles one at a time to whichever worker is free: their costs differ with their windows.
    parallel_items(tile_end - tile_begin, threads, [&](int w, int64_t item) {
        int64_t* hist = maps.hists.data() + static_cast<size_t>(slot >= 0 ? slot : w) * (nbins + 1);
        auto& [cum, index, lo, hi] = scratch[w];
        const int64_t tile = tile_begin + item;
        // Integer counts land in the tile's window of bins only.
        const int64_t first = is_float_v<T> ? 0 : maps.first[tile];
        const int64_t width = is_float_v<T> ? nbins : maps.width[tile];
        tile_box(axes, tile, lo, hi);
        std::fill(hist + first, hist + first + width, int64_t{0});
        hist[nbins] = 0;
        auto for_each_row = [&](auto&& fn) {
            if (ndim == 2) {  // most images: no index bookkeeping per (often short) row
                for (int64_t y = lo[0]; y < hi[0]; ++y) fn(y * stride[0] + lo[1], hi[1] - lo[1]);
            } else {
                for_each_box_row(lo, hi, stride, index, fn);
            }
        };
        bool counted_bytes = false;
        int64_t area = 1;
        for (int d = 0; d < ndim; ++d) area *= hi[d] - lo[d];
        if constexpr (sizeof(T) == 1 && std::is_same<Bins, DirectBins>::value) {
            if (!mask && area >= 4096) {  // one byte counter across the rows; small tiles count directly
                ByteCounter<T> counter;
                for_each_row([&](int64_t offset, int64_t length) { counter.add(in + offset, length, hist); });
                counter.flush(hist);
                counted_bytes = true;
            }
        }
        if (!counted_bytes) {
            if constexpr (is_float_v<T>) {
                for_each_row([&](int64_t offset, int64_t length) {
                    count_range(in, mask, offset, offset + length, bins, hist);
                });
            } else if (std::is_same<Bins, DirectBins>::value && !mask) {
                // One bin per level, no mask: count directly, the bin offset in a register.
                const int64_t shift = bins(0);
                int64_t* __restrict counts = hist;
                for_each_row([&](int64_t offset, int64_t length) {
                    const T* __restrict row = in + offset;
                    for (int64_t i = 0; i < length; ++i) ++counts[static_cast<int64_t>(row[i]) + shift];
                });
            } else {  // short rows: count directly, without per-call set-up
                for_each_row([&](int64_t offset, int64_t length) {
                    for (int64_t i = offset; i < offset + length; ++i)
                        if (!mask || mask[i]) ++hist[bins(static_cast<int64_t>(in[i]))];
                });
            }
        }
        const bool mapped = tile_mapping<T>(hist, spec, clip, first, width, cum.data(),
                                            maps.lut.empty() ? nullptr : maps.lut.data() + maps.offset[tile],
                                            maps.level.empty() ? nullptr : maps.level.data() + tile * (nbins + 1),
                                            maps.slope.empty() ? nullptr : maps.slope.data() + tile * (nbins + 1));
        maps.identity[tile] = !mapped;
    });
}

// Interpolates the tile mappings at every pixel of one image.  denominator:
// the product of the integer weight denominators (integer images), so that
// the weighted sum of integer levels is exact and rounds halves up.
template <class T, class Bins>
void clahe_pixels(const T* in, T* out, const std::vector<AxisPlan>& axes, const Spec& spec, const Bins& bins,
                  const ClaheMaps<T>& maps, double denominator, int threads) {
    const int ndim = static_cast<int>(axes.size());
    const int64_t nbins = spec.nbins, width = axes[ndim - 1].n;
    int64_t rows = 1;
    for (int d = 0; d < ndim - 1; ++d) rows *= axes[d].n;
    std::vector<int64_t> tile_stride(ndim, 1);
    for (int d = ndim - 2; d >= 0; --d) tile_stride[d] = tile_stride[d + 1] * axes[d + 1].tiles;
    const int corners = 1 << ndim;
    const double out_lo = spec.out_lo;
    parallel_for(rows, threads, std::max<int64_t>(1, kPixelGrain / std::max<int64_t>(width, 1)),
                 [&](int, int64_t rb, int64_t re) {
        std::vector<int64_t> corner_tile(corners);
        std::vector<double> value(corners);
        std::vector<int64_t> index(ndim);
        for (int64_t row = rb; row < re; ++row) {
            int64_t rest = row;
            for (int d = ndim - 2; d >= 0; --d) {
                index[d] = rest % axes[d].n;
                rest /= axes[d].n;
            }
            // Tile offsets of the corners along the row axes; bit (ndim - 1 - d) of c is axis d.
            for (int c = 0; c < corners; c += 2) {
                int64_t t = 0;
                for (int d = 0; d < ndim - 1; ++d) {
                    const int64_t k = axes[d].lower[index[d]] + ((c >> (ndim - 1 - d)) & 1);
                    t += std::min(k, axes[d].tiles - 1) * tile_stride[d];  // the border's unused neighbour
                }
                corner_tile[c] = corner_tile[c + 1] = t;
            }
            const AxisPlan& last = axes[ndim - 1];
            const T* src = in + row * width;
            T* dst = out + row * width;
            for (int64_t x = 0; x < width; ++x) {
                const T v = src[x];
                const int32_t kx = last.lower[x];
                double t = 0, nan_or_zero = 0;
                int64_t b = 0;
                if constexpr (is_float_v<T>) {
                    const double above_lo = v < bins.lo ? bins.lo : static_cast<double>(v);
                    const double clipped = above_lo > bins.hi ? bins.hi : above_lo;
                    nan_or_zero = clipped - clipped;
                    const double xv = clipped == clipped ? clipped : bins.lo;
                    t = bins.position(xv);
                    b = std::min<int64_t>(static_cast<int64_t>(t), nbins);
                } else {
                    b = bins(static_cast<int64_t>(v));
                }
                for (int c = 0; c < corners; ++c) {
                    const int64_t tile = corner_tile[c] + (kx + (c & 1) < last.tiles ? kx + (c & 1) : kx);
                    double y;
                    if (maps.identity[tile]) {
                        y = static_cast<double>(rescale(v, spec));
                        if constexpr (is_float_v<T>) y = y == y ? y : 0.0;
                    } else if constexpr (is_float_v<T>) {
                        const double* lv = maps.level.data() + tile * (nbins + 1);
                        const double* sl = maps.slope.data() + tile * (nbins + 1);
                        y = lv[b] + (t - static_cast<double>(b)) * sl[b];
                    } else {
                        y = static_cast<double>(maps.lut[maps.offset[tile] + b - maps.first[tile]]);
                    }
                    value[c] = is_float_v<T> ? y : y - out_lo;
                }
                // Nested: the last axis first, the first axis outermost.
                int n = corners;
                for (int d = ndim - 1; d >= 0; --d) {
                    const int64_t i = d == ndim - 1 ? x : index[d];
                    const double w0 = axes[d].w0[i], w1 = axes[d].w1[i];
                    for (int j = 0; j < n / 2; ++j) value[j] = w0 * value[2 * j] + w1 * value[2 * j + 1];
                    n /= 2;
                }
                if constexpr (is_float_v<T>) {
                    dst[x] = static_cast<T>(value[0] + nan_or_zero);
                } else {
                    // round(acc / denominator), halves up, exactly: acc and the
                    // denominator are integers below 2^51.
                    const double acc = value[0];
                    double q = std::floor(acc / denominator + 0.5);
                    while (q > 0 && (2 * q - 1) * denominator > 2 * acc) q -= 1;
                    while ((2 * q + 1) * denominator <= 2 * acc) q += 1;
                    dst[x] = static_cast<T>(static_cast<int64_t>(out_lo) + static_cast<int64_t>(q));
                }
            }
        }
    });
}

// Exact floor(num / d) for 0 <= num < 2^31 by one multiplication
// (Granlund & Montgomery): with s = 31 + ceil(log2 d) and m = ceil(2^s / d),
// (num m) >> s is the quotient, and num m < 2^63.
class ConstantDivisor {
   public:
    explicit ConstantDivisor(uint64_t d) {
        int log2d = 0;
        while ((uint64_t{1} << log2d) < d) ++log2d;
        shift_ = 31 + log2d;
        multiplier_ = ((unsigned __int128){1} << shift_) / d + 1;
        exact_ = shift_ < 64 && multiplier_ < (uint64_t{1} << 32);
    }
    bool exact() const { return exact_; }  // usable for every num < 2^31
    // Where exact(); shift() >= 32 for d >= 2.
    uint32_t multiplier() const { return static_cast<uint32_t>(multiplier_); }
    int shift() const { return shift_; }
    uint64_t operator()(uint64_t num) const { return static_cast<uint64_t>((num * multiplier_) >> shift_); }
    // The same where exact(): a 32 x 32-bit product, which vectorizes.
    uint32_t operator()(uint32_t num) const {
        return static_cast<uint32_t>((uint64_t{num} * uint64_t{static_cast<uint32_t>(multiplier_)}) >> shift_);
    }

   private:
    int shift_;
    uint64_t multiplier_;
    bool exact_;
};

// round(acc / d), halves up, exactly, for 0 <= acc <= d span: floor((2 acc +
// d) / 2d) by one multiplication where the numerator fits in 31 bits, else a
// floating-point guess corrected by integer comparisons.
class HalfUpDivision {
   public:
    HalfUpDivision(int64_t d, int64_t span)
        : d_(d), twice_(2 * d), divide_(static_cast<uint64_t>(2 * d)), inverse_(1.0 / (2.0 * static_cast<double>(d))) {
        small_ = divide_.exact() && 2 * d * span + d < (int64_t{1} << 31);
    }
    bool small() const { return small_; }

    template <bool kSmall>
    int64_t at(int64_t acc) const {
        const int64_t num = 2 * acc + d_;
        if constexpr (kSmall) return static_cast<int64_t>(divide_(static_cast<uint64_t>(num)));
        int64_t q = static_cast<int64_t>(static_cast<double>(num) * inverse_);
        q -= q * twice_ > num;
        q += (q + 1) * twice_ <= num;
        return q;
    }
    // Where small(), for 0 <= acc.
    uint32_t at32(int32_t acc) const { return divide_(static_cast<uint32_t>(2 * acc + d_)); }
    int64_t denominator() const { return d_; }
    const ConstantDivisor& twice_divisor() const { return divide_; }

   private:
    int64_t d_, twice_;
    ConstantDivisor divide_;
    double inverse_;
    bool small_;
};

// 2-D integer images with one bin per level and few bins (8-bit): each row
// first blends its two tile rows vertically, so that a pixel then reads two
// table entries instead of four.  table: nbins levels above out_lo per tile,
// for the values first, first + 1, ...  Exact: integer sums, halves up.
template <class T, class Blend, bool kSmall>
void blended_rows(const T* in, T* out, const AxisPlan& ay, const AxisPlan& ax, int64_t first, int64_t nbins,
                  const std::vector<int32_t>& table, int64_t olo, const HalfUpDivision& rounding, int threads) {
    const int64_t width = ax.n, tiles_x = ax.tiles;
    std::vector<int32_t> wl(width), wr(width);
    std::vector<int64_t> run_start{0};
    for (int64_t x = 0; x < width; ++x) {
        wl[x] = static_cast<int32_t>(ax.w0[x]);
        wr[x] = static_cast<int32_t>(ax.w1[x]);
        if (x && ax.lower[x] != ax.lower[x - 1]) run_start.push_back(x);  // runs sharing their two tiles
    }
    run_start.push_back(width);
    parallel_for(ay.n, threads, std::max<int64_t>(1, kPixelGrain / width), [&](int, int64_t yb, int64_t ye) {
        std::vector<Blend> blended(tiles_x * nbins);
        for (int64_t y = yb; y < ye; ++y) {
            const int64_t k = ay.lower[y];
            const int32_t* top = table.data() + k * tiles_x * nbins;
            const int32_t* bottom = table.data() + std::min(k + 1, ay.tiles - 1) * tiles_x * nbins;
            const Blend wt = static_cast<Blend>(ay.w0[y]), wb = static_cast<Blend>(ay.w1[y]);
            Blend* row = blended.data();
            dispatch([&]() HISTEQ_INLINE {
                for (int64_t j = 0; j < tiles_x * nbins; ++j) row[j] = wt * top[j] + wb * bottom[j];
            });
            const T* __restrict src = in + y * width;
            T* __restrict dst = out + y * width;
            for (size_t r = 0; r + 1 < run_start.size(); ++r) {
                const int64_t x0 = run_start[r], x1 = run_start[r + 1], kx = ax.lower[x0];
                const Blend* __restrict l = row + kx * nbins - first;
                const Blend* __restrict rt = row + std::min(kx + 1, tiles_x - 1) * nbins - first;
                for (int64_t x = x0; x < x1; ++x) {
                    const int64_t v = static_cast<int64_t>(src[x]);
                    const int64_t acc = int64_t{wl[x]} * l[v] + int64_t{wr[x]} * rt[v];
                    dst[x] = static_cast<T>(olo + rounding.template at<kSmall>(acc));
                }
            }
        }
    });
}

template <class T>
void clahe_pixels_2d(const T* in, T* out, const AxisPlan& ay, const AxisPlan& ax, const Spec& spec, int64_t first,
                     int64_t nbins, const std::vector<int32_t>& table, double denominator, int threads) {
    const int64_t olo = static_cast<int64_t>(spec.out_lo), span = static_cast<int64_t>(spec.out_hi - spec.out_lo);
    const HalfUpDivision rounding(static_cast<int64_t>(denominator), span);
    // Blended rows hold at most (vertical denominator) x span.
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

// 2-D integer images with one bin per level whose levels fit in a byte above
// out_lo (8-bit output), where the weighted sums fit in int32
// (HalfUpDivision::small): the cell between four tile centres gets one table
// whose entries pack the four tiles' levels, so that a pixel reads one entry
// instead of four.  Entry bytes: top-left, bottom-left, top-right,
// bottom-right, so that the halves of (p & 0x00ff00ff) and (p >> 8 &
// 0x00ff00ff) are the top and the bottom pair.  lut: ntiles x nbins levels for
// the values first, first + 1, ...; cells are keyed by each axis's lower tile.
template <class T>
void clahe_pixels_cells(const T* in, T* out, const AxisPlan& ay, const AxisPlan& ax, const Spec& spec, const T* lut,
                        int64_t first, int64_t nbins, double denominator, int threads, Scratch<uint32_t>& cells) {
    const int64_t width = ax.n, ty = ay.tiles, tx = ax.tiles;
    const int64_t olo = static_cast<int64_t>(spec.out_lo), span = static_cast<int64_t>(spec.out_hi - spec.out_lo);
    const HalfUpDivision rounding(static_cast<int64_t>(denominator), span);
    cells.resize(static_cast<size_t>(ty * tx * nbins));
    for (int64_t ky = 0; ky < ty; ++ky) {
        for (int64_t kx = 0; kx < tx; ++kx) {
            const int64_t ky1 = std::min(ky + 1, ty - 1), kx1 = std::min(kx + 1, tx - 1);
            uint32_t* cell = cells.data() + (ky * tx + kx) * nbins;
#ifdef HISTEQ_X86
            if constexpr (sizeof(T) == 1) {
                if (cpu_level() == 2) {
                    const auto* bytes = reinterpret_cast<const uint8_t*>(lut);
                    pack_cell_avx512(bytes + (ky * tx + kx) * nbins, bytes + (ky1 * tx + kx) * nbins,
                                     bytes + (ky * tx + kx1) * nbins, bytes + (ky1 * tx + kx1) * nbins, nbins,
                                     static_cast<uint8_t>(olo), cell);
                    continue;
                }
            }
#endif
            dispatch([&]() HISTEQ_INLINE {
                const T* __restrict tl = lut + (ky * tx + kx) * nbins;
                const T* __restrict bl = lut + (ky1 * tx + kx) * nbins;
                const T* __restrict tr = lut + (ky * tx + kx1) * nbins;
                const T* __restrict br = lut + (ky1 * tx + kx1) * nbins;
                uint32_t* __restrict to = cell;
                const uint32_t low = static_cast<uint32_t>(olo);
                const int64_t n = nbins;
                for (int64_t k = 0; k < n; ++k)
                    to[k] = (static_cast<uint32_t>(tl[k]) - low) | (static_cast<uint32_t>(bl[k]) - low) << 8 |
                            (static_cast<uint32_t>(tr[k]) - low) << 16 | (static_cast<uint32_t>(br[k]) - low) << 24;
            });
        }
    }
    std::vector<int32_t> wl(width), wr(width), pairs(width);
    std::vector<int64_t> run_start{0};
    bool short_weights = true;
    for (int64_t x = 0; x < width; ++x) {
        wl[x] = static_cast<int32_t>(ax.w0[x]);
        wr[x] = static_cast<int32_t>(ax.w1[x]);
        short_weights = short_weights && wl[x] < (1 << 15) && wr[x] < (1 << 15);
        pairs[x] = static_cast<int32_t>(static_cast<uint32_t>(wl[x]) | static_cast<uint32_t>(wr[x]) << 16);
        if (x && ax.lower[x] != ax.lower[x - 1]) run_start.push_back(x);
    }
    run_start.push_back(width);
#ifdef HISTEQ_X86
    const bool fast_blend = sizeof(T) == 1 && cpu_level() == 2 && short_weights;
#endif
    parallel_for(ay.n, threads, std::max<int64_t>(1, kPixelGrain / width), [&](int, int64_t yb, int64_t ye) {
        std::vector<uint32_t> packed(width);
        for (int64_t y = yb; y < ye; ++y) {
            const uint32_t* row_cells = cells.data() + ay.lower[y] * tx * nbins - first;
            const T* src = in + y * width;
            T* dst = out + y * width;
            uint32_t* p = packed.data();
            for (size_t r = 0; r + 1 < run_start.size(); ++r) {
                const int64_t x0 = run_start[r], x1 = run_start[r + 1];
                const uint32_t* __restrict cell = row_cells + ax.lower[x0] * nbins;
                for (int64_t x = x0; x < x1; ++x) p[x] = cell[static_cast<int64_t>(src[x])];
            }
            const int32_t wt = static_cast<int32_t>(ay.w0[y]), wb = static_cast<int32_t>(ay.w1[y]);
#ifdef HISTEQ_X86
            if constexpr (sizeof(T) == 1) {
                if (fast_blend) {
                    const ConstantDivisor& divide = rounding.twice_divisor();
                    blend_cells_avx512(p, pairs.data(), wt, wb, width, static_cast<int32_t>(rounding.denominator()),
                                       divide.multiplier(), divide.shift(), static_cast<uint8_t>(olo),
                                       reinterpret_cast<uint8_t*>(dst));
                    continue;
                }
            }
#endif
            dispatch([&]() HISTEQ_INLINE {
                // Locals: stores of a char type T could alias anything captured.
                const uint32_t* __restrict entries = p;
                const int32_t* __restrict left = wl.data();
                const int32_t* __restrict right = wr.data();
                T* __restrict to = dst;
                const HalfUpDivision round = rounding;
                const int32_t top_weight = wt, bottom_weight = wb, low = static_cast<int32_t>(olo);
                const int64_t n = width;
                for (int64_t x = 0; x < n; ++x) {
                    const uint32_t v = entries[x];
                    const int32_t top = left[x] * static_cast<int32_t>(v & 0xff) +
                                        right[x] * static_cast<int32_t>((v >> 16) & 0xff);
                    const int32_t bottom = left[x] * static_cast<int32_t>((v >> 8) & 0xff) +
                                           right[x] * static_cast<int32_t>(v >> 24);
                    const int32_t acc = top_weight * top + bottom_weight * bottom;
                    to[x] = static_cast<T>(low + static_cast<int32_t>(round.at32(acc)));
                }
            });
        }
    });
}

// Calls fn with the corner count as a constant where it is a common one
// (1, 2, 4; the unrolled code keeps its sums in registers), else with 0.
template <class Fn>
void with_corner_count(int corners, Fn&& fn) {
    switch (corners) {
        case 1:
            return fn(std::integral_constant<int, 1>{});
        case 2:
            return fn(std::integral_constant<int, 2>{});
        case 4:
            return fn(std::integral_constant<int, 4>{});
        default:
            return fn(std::integral_constant<int, 0>{});  // any count, summed in memory
    }
}

// Phase one of clahe_pixels_levels: for x in [x0, x1), the levels above olo
// (at most 16 bits) of the left (tile kx) and the right (tile kr) mapping of
// each corner's tile row, packed as left | right << 16 to out[c stride + x -
// base].  The common corner counts are unrolled, so that each value is read
// once for all its tables.
template <class T>
void gather_levels(const T* src, int64_t x0, int64_t x1, int64_t base, int corners, const int64_t* row_tile,
                   int64_t kx, int64_t kr, const T* lut, const int64_t* origin, int64_t olo, uint32_t* out,
                   int64_t stride) {
    with_corner_count(corners, [&](auto fixed) {
        constexpr int kFixed = decltype(fixed)::value;
        const int m = kFixed ? kFixed : corners;
        for (int c0 = 0; c0 < m; c0 += kFixed ? kFixed : 1) {
            constexpr int kTables = kFixed ? kFixed : 1;
            const T* left[kTables];
            const T* right[kTables];
            uint32_t* to[kTables];
            for (int c = 0; c < kTables; ++c) {
                left[c] = lut + origin[row_tile[c0 + c] + kx];
                right[c] = lut + origin[row_tile[c0 + c] + kr];
                to[c] = out + (c0 + c) * stride - base;
            }
            const int32_t low = static_cast<int32_t>(olo);
            for (int64_t x = x0; x < x1; ++x) {
                const int64_t v = static_cast<int64_t>(src[x]);
                for (int c = 0; c < kTables; ++c)
                    to[c][x] = static_cast<uint32_t>(static_cast<int32_t>(left[c][v]) - low) |
                               static_cast<uint32_t>(static_cast<int32_t>(right[c][v]) - low) << 16;
            }
        }
    });
}

// Phase two: the weighted sums of a stretch of n pixels, rounded halves up
// and stored (levels: gather_levels's pairs).  Acc = int32 where the sums fit
// (HalfUpDivision::small), else double, exact below 2^53: floor((2 acc + d) /
// 2d) is then a guess from the reciprocal (truncation is floor: num >= 0),
// corrected by one step each way; every product is an integer below 2^53 and
// the quotient a level of at most 16 bits.
template <class Acc, class T>
void blend_stretch(const uint32_t* levels, int64_t stride, int corners, const int64_t* weight, const Acc* wl,
                   const Acc* wr, int64_t n, const HalfUpDivision& rounding, double denominator, int64_t olo, T* out) {
    with_corner_count(corners, [&](auto fixed) {
        constexpr int kFixed = decltype(fixed)::value;
        dispatch([&]() HISTEQ_INLINE {
            // Locals: stores of a char type T could alias anything captured.
            const Acc* __restrict left_weight = wl;
            const Acc* __restrict right_weight = wr;
            const uint32_t* __restrict pairs = levels;
            T* __restrict dst = out;
            const int64_t count = n, step = stride;
            const int m = kFixed ? kFixed : corners;
            const HalfUpDivision round = rounding;
            const double d = denominator, twice = 2 * denominator, inverse = 1 / twice;
            const int32_t low = static_cast<int32_t>(olo);
            Acc w[kFixed ? kFixed : 1];
            for (int c = 0; c < kFixed; ++c) w[c] = static_cast<Acc>(weight[c]);
            for (int64_t i = 0; i < count; ++i) {
                Acc a = 0;
                for (int c = 0; c < m; ++c) {
                    const uint32_t pair = pairs[c * step + i];
                    a += (kFixed ? w[c] : static_cast<Acc>(weight[c])) * (left_weight[i] * static_cast<Acc>(static_cast<int32_t>(pair & 0xffff)) +
                                 right_weight[i] * static_cast<Acc>(static_cast<int32_t>(pair >> 16)));
                }
                if constexpr (std::is_same<Acc, int32_t>::value) {
                    dst[i] = static_cast<T>(low + static_cast<int32_t>(round.at32(a)));
                } else {
                    const double num = 2 * a + d;
                    const int32_t guess = static_cast<int32_t>(num * inverse);
                    const double rest = num - static_cast<double>(guess) * twice;
                    dst[i] = static_cast<T>(low + guess + (rest >= twice) - (rest < 0));
                }
            }
        });
    });
}

#ifdef HISTEQ_X86
// floor((2 acc + d) / 2d) of eight sums, as blend_stretch rounds them.
__attribute__((target("avx512f,avx512dq,avx512vl"))) inline __m256i halves_up_avx512(__m512d acc, __m512d d,
                                                                                   __m512d twice, __m512d inverse) {
    const __m512d num = _mm512_add_pd(_mm512_add_pd(acc, acc), d);
    const __m256i guess = _mm512_cvttpd_epi32(_mm512_mul_pd(num, inverse));
    const __m512d rest = _mm512_sub_pd(num, _mm512_mul_pd(_mm512_cvtepi32_pd(guess), twice));
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i up = _mm256_maskz_mov_epi32(_mm512_cmp_pd_mask(rest, twice, _CMP_GE_OQ), one);
    const __m256i down = _mm256_maskz_mov_epi32(_mm512_cmp_pd_mask(rest, _mm512_setzero_pd(), _CMP_LT_OQ), one);
    return _mm256_sub_epi32(_mm256_add_epi32(guess, up), down);
}

// blend_stretch's double path for outputs of at most 16 bits, 16 pixels at a
// time, where the horizontal weights are below 2^15: each corner's horizontal
// sum wl L + wr R is one multiply-add of 16-bit pairs in int32 (the levels
// biased by -2^15 to fit signed words, bias = 2^15 (wl + wr) added back),
// exact; the weighted sum over the corners and the rounding as blend_stretch.
template <class T>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) void blend_pairs_avx512(
    const uint32_t* levels, int64_t stride, int corners, const int64_t* weight, const int32_t* weight_pairs,
    const int32_t* bias, int64_t n, double denominator, int32_t low, T* out) {
    static_assert(sizeof(T) <= 2, "levels of at most 16 bits");
    const __m512i flip = _mm512_set1_epi32(static_cast<int32_t>(0x80008000u)), vlow = _mm512_set1_epi32(low);
    const __m512d d = _mm512_set1_pd(denominator), twice = _mm512_set1_pd(2 * denominator);
    const __m512d inverse = _mm512_set1_pd(1 / (2 * denominator));
    for (int64_t x = 0; x < n; x += 16) {
        const __mmask16 valid = n - x >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - x)) - 1);
        const __m512i w = _mm512_maskz_loadu_epi32(valid, weight_pairs + x);
        const __m512i b = _mm512_maskz_loadu_epi32(valid, bias + x);
        __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
        for (int c = 0; c < corners; ++c) {
            const __m512i p = _mm512_xor_si512(_mm512_maskz_loadu_epi32(valid, levels + c * stride + x), flip);
            const __m512i h = _mm512_add_epi32(_mm512_madd_epi16(p, w), b);
            const __m512d wc = _mm512_set1_pd(static_cast<double>(weight[c]));
            lo = _mm512_add_pd(lo, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(h)), wc));
            hi = _mm512_add_pd(hi, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(h, 1)), wc));
        }
        const __m512i q = _mm512_add_epi32(
            _mm512_inserti64x4(_mm512_castsi256_si512(halves_up_avx512(lo, d, twice, inverse)),
                               halves_up_avx512(hi, d, twice, inverse), 1),
            vlow);
        if constexpr (sizeof(T) == 1) {
            _mm_mask_storeu_epi8(out + x, valid, _mm512_cvtepi32_epi8(q));
        } else {
            _mm256_mask_storeu_epi16(out + x, valid, _mm512_cvtepi32_epi16(q));
        }
    }
}
#endif

// Integer images with one bin per level, any number of axes: the sum over
// the 2^ndim surrounding tiles, exact (levels above out_lo, integer weights).
// Tile t's level for value v is lut[origin[t] + v] (identity tiles included);
// every pixel's value lies in the windows of the tiles it reads.
//
// Two passes per stretch of a row: the table reads (scalar: gathers are slow
// on many CPUs, and the reads are what bounds this), then the weighted sums
// and the rounding, vectorized -- in int32 where the sums fit, else in double,
// which is exact below 2^53 (the weights are planned to keep sums below 2^51).
template <class T>
void clahe_pixels_levels(const T* in, T* out, const std::vector<AxisPlan>& axes, const Spec& spec, const T* lut,
                         const std::vector<int64_t>& origin, double denominator, int threads, int64_t row_begin,
                         int64_t row_end, int part = 0, int parts = 1) {
    const int ndim = static_cast<int>(axes.size());
    const AxisPlan& last = axes[ndim - 1];
    const int64_t width = last.n;
    std::vector<int64_t> tile_stride(ndim, 1);
    for (int d = ndim - 2; d >= 0; --d) tile_stride[d] = tile_stride[d + 1] * axes[d + 1].tiles;
    std::vector<int32_t> wl(width), wr(width), weight_pairs(width), bias(width);
    std::vector<double> wl_real(width), wr_real(width);
    std::vector<int64_t> run_start{0};
    bool short_weights = true;
    for (int64_t x = 0; x < width; ++x) {
        wl[x] = static_cast<int32_t>(std::min(last.w0[x], 0x1p30));  // used only when sums fit in int32
        wr[x] = static_cast<int32_t>(std::min(last.w1[x], 0x1p30));
        wl_real[x] = last.w0[x];
        wr_real[x] = last.w1[x];
        short_weights = short_weights && wl[x] < (1 << 15) && wr[x] < (1 << 15);
        weight_pairs[x] = static_cast<int32_t>(static_cast<uint32_t>(wl[x]) | static_cast<uint32_t>(wr[x]) << 16);
        bias[x] = (wl[x] + wr[x]) << 15;
        if (x && last.lower[x] != last.lower[x - 1]) run_start.push_back(x);
    }
    run_start.push_back(width);
#ifdef HISTEQ_X86
    const bool fast_blend = sizeof(T) <= 2 && cpu_level() == 2 && short_weights;
#endif
    const int64_t olo = static_cast<int64_t>(spec.out_lo), span = static_cast<int64_t>(spec.out_hi - spec.out_lo);
    const HalfUpDivision rounding(static_cast<int64_t>(denominator), span);
    const bool small = rounding.small();
    const int row_corners = 1 << (ndim - 1);
    constexpr int64_t kStretch = 256;
    // With 3 or more axes, the rows band by band along the second axis (a band:
    // the same lower tile), each band's rows for every index of the first axis:
    // a band reads a quarter of the two layers' tables, which then stay in cache
    // (measured: 128^3 16-bit, 10% faster than row by row).  row_begin and
    // row_end bound whole indices of the first axis.  parts > 1: one thread,
    // the part-th of `parts` equal shares of these rows.
    std::vector<int64_t> order;
    if (ndim >= 3) {
        const int64_t n1 = axes[1].n;
        int64_t inner = 1;
        for (int a = 2; a < ndim - 1; ++a) inner *= axes[a].n;
        const int64_t i0b = row_begin / (n1 * inner), i0e = row_end / (n1 * inner);
        order.reserve(row_end - row_begin);
        for (int64_t b = 0; b < n1;) {
            int64_t e = b;
            while (e < n1 && axes[1].lower[e] == axes[1].lower[b]) ++e;
            for (int64_t i0 = i0b; i0 < i0e; ++i0)
                for (int64_t i1 = b; i1 < e; ++i1)
                    for (int64_t r = 0; r < inner; ++r) order.push_back((i0 * n1 + i1) * inner + r);
            b = e;
        }
    }
    const int64_t steps = row_end - row_begin;
    const int64_t share_begin = steps * part / parts, share_end = steps * (part + 1) / parts;
    parallel_for(share_end - share_begin, parts > 1 ? 1 : threads, std::max<int64_t>(1, kPixelGrain / width),
                 [&](int, int64_t share_rb, int64_t share_re) {
        const int64_t rb = share_begin + share_rb, re = share_begin + share_re;
        std::vector<int64_t> row_tile(row_corners), weight(row_corners), index(ndim);
        // Per corner: the left and the right tile's levels, paired (gather_levels).
        std::vector<uint32_t> levels(row_corners * kStretch);
        for (int64_t step = rb; step < re; ++step) {
            const int64_t row = order.empty() ? row_begin + step : order[step];
            int64_t rest = row;
            for (int a = ndim - 2; a >= 0; --a) {
                index[a] = rest % axes[a].n;
                rest /= axes[a].n;
            }
            // The row's corners: bit (ndim - 2 - a) of c picks the upper tile along axis a.
            int used = 0;
            for (int c = 0; c < row_corners; ++c) {
                int64_t tile = 0, w = 1;
                for (int a = 0; a < ndim - 1; ++a) {
                    const int upper = (c >> (ndim - 2 - a)) & 1;
                    const int64_t k = axes[a].lower[index[a]] + upper;
                    w *= static_cast<int64_t>(upper ? axes[a].w1[index[a]] : axes[a].w0[index[a]]);
                    tile += std::min(k, axes[a].tiles - 1) * tile_stride[a];
                }
                if (w == 0) continue;  // the border's unused neighbour
                row_tile[used] = tile;
                weight[used++] = w;
            }
            const T* src = in + row * width;
            T* dst = out + row * width;
            size_t run = 0;
            for (int64_t s0 = 0; s0 < width; s0 += kStretch) {
                const int64_t s1 = std::min(width, s0 + kStretch), n = s1 - s0;
                for (; run_start[run + 1] <= s0; ++run) {
                }
                for (size_t r = run; run_start[r] < s1; ++r) {
                    const int64_t x0 = std::max(run_start[r], s0), x1 = std::min(run_start[r + 1], s1);
                    const int64_t kx = last.lower[x0], kr = std::min<int64_t>(kx + 1, last.tiles - 1);
                    gather_levels(src, x0, x1, s0, used, row_tile.data(), kx, kr, lut, origin.data(), olo,
                                  levels.data(), kStretch);
                }
#ifdef HISTEQ_X86
                if constexpr (sizeof(T) <= 2) {
                    if (!small && fast_blend) {
                        blend_pairs_avx512(levels.data(), kStretch, used, weight.data(), weight_pairs.data() + s0,
                                           bias.data() + s0, n, denominator, static_cast<int32_t>(olo), dst + s0);
                        continue;
                    }
                }
#endif
                if (small) {
                    blend_stretch(levels.data(), kStretch, used, weight.data(), wl.data() + s0, wr.data() + s0, n,
                                  rounding, denominator, olo, dst + s0);
                } else {
                    blend_stretch(levels.data(), kStretch, used, weight.data(), wl_real.data() + s0,
                                  wr_real.data() + s0, n, rounding, denominator, olo, dst + s0);
                }
            }
        }
    });
}

template <class T>
void clahe_batch(const T* in, const bool* mask, T* out, int64_t batch, int64_t pixels,
                 const std::vector<AxisPlan>& axes, const Spec& spec, double clip_limit, int64_t clip_groups,
                 double denominator, double table_budget, int threads) {
    int64_t ntiles = 1;
    for (const AxisPlan& a : axes) ntiles *= a.tiles;
    const int64_t nbins = spec.nbins;
    // Per worker: tile maps and the 2-D fast path's tables, reused across images.
    // The calling thread also keeps its maps for its next call, up to
    // kKeptBytes each: fresh pages cost a fault each (measured: a 128^3 16-bit
    // volume's 3 MB of tables took 2-3 ms more on fresh memory, with 2 threads).
    constexpr size_t kKeptBytes = size_t{16} << 20;
    const int workers = image_workers(batch, threads);
    if constexpr (is_float_v<T>) {
        require_tables(static_cast<double>(workers) * static_cast<double>(ntiles) * static_cast<double>(nbins + 1) * 16,
                       table_budget);
    }
    thread_local std::vector<ClaheMaps<T>> kept;
    if (kept.size() < static_cast<size_t>(workers)) kept.resize(workers);
    std::vector<ClaheMaps<T>>& maps = kept;
    struct Trim {  // on every exit, exceptions included
        std::vector<ClaheMaps<T>>& maps;
        ~Trim() {
            for (ClaheMaps<T>& m : maps) {
                if (m.lut.bytes() + m.hists.bytes() + 8 * (m.level.capacity() + m.slope.capacity()) > kKeptBytes) {
                    m = ClaheMaps<T>();
                }
            }
        }
    } trim{maps};
    std::vector<std::vector<int32_t>> tables(workers);
    std::vector<Scratch<uint32_t>> cell_tables(workers);
    for (ClaheMaps<T>& m : maps) {
        m.identity.resize(ntiles);
        if constexpr (is_float_v<T>) {
            m.level.resize(ntiles * (nbins + 1));
            m.slope.resize(ntiles * (nbins + 1));
        }
    }
    for_each_image(batch, threads, [&](int64_t image, int inner, int w) {
        const T* src = in + image * pixels;
        T* dst = out + image * pixels;
        const bool* sel = mask ? mask + image * pixels : nullptr;
        Spec s = spec;
        ClipRule clip{clip_limit, clip_groups};
        Stats counted_stats{};
        if (s.data_range || is_float_v<T> || sel) {
            // No pixel counted anywhere: the identity rescale, as equalize does.
            counted_stats = image_stats(src, sel, pixels, inner);
            if (counted_stats.count == 0) {
                apply_rescale(src, dst, pixels, s, inner);
                return;
            }
            if (s.data_range) {
                const auto range = bin_range<T>(s, counted_stats);
                s.lo = range.first;
                s.hi = range.second;
            }
        }
        if constexpr (is_float_v<T>) {
            const FloatBins bins(s.lo, s.hi, s.nbins);
            if (clip.grouped()) {
                clip.lo = bins(bins.clip(counted_stats.vmin));
                clip.hi = bins(bins.clip(counted_stats.vmax));
            }
            clahe_tiles(src, sel, axes, s, bins, clip, inner, maps[w], 0, ntiles);
            clahe_pixels(src, dst, axes, s, bins, maps[w], denominator, inner);
        } else {
            // Tables are kept only for the bins the image's values fall in.
            const Stats all = image_stats(src, static_cast<const bool*>(nullptr), pixels, inner);
            with_int_bins<T>(static_cast<int64_t>(s.lo), static_cast<int64_t>(s.hi), s.nbins, [&](const auto& bins) {
                ClaheMaps<T>& m = maps[w];
                constexpr bool kDirect = std::is_same<std::decay_t<decltype(bins)>, DirectBins>::value;
                const int64_t first = bins(static_cast<int64_t>(all.vmin));
                const int64_t width = bins(static_cast<int64_t>(all.vmax)) - first + 1;
                const Stats& counted = sel ? counted_stats : all;
                clip.lo = bins(static_cast<int64_t>(counted.vmin));
                clip.hi = bins(static_cast<int64_t>(counted.vmax));
                // Tables over the image's range where they are small, or small next to the
                // image's rows; else (16-bit, many tiles) each tile's spans only what the
                // pixels around it hold.  2-D with levels of a byte: packed cell tables; else
                // 2-D 8-bit on wide images: rows blended vertically first.
                const bool wide = kDirect && axes.size() == 2 && width * axes[1].tiles <= 2 * axes[1].n;
                const bool uniform = wide || ntiles * width < (int64_t{1} << 16);
                const int64_t span = static_cast<int64_t>(s.out_hi - s.out_lo);
                const bool cells = kDirect && uniform && axes.size() == 2 && span < 256 &&
                                   HalfUpDivision(static_cast<int64_t>(denominator), span).small();
                const bool blend = wide && !cells;
                // Windowed levels of 2 or more axes: the tiles built a layer at a time (along
                // the first axis), each layer's tables filling one of two slots, and the rows
                // that read the last two layers interpolated before the next layer is built:
                // a quarter of the memory at 8 tiles, and the tables read while still cached.
                // Only where a layer has tiles enough to keep the threads busy (measured: a
                // 2-D image's 8 tiles per layer build slower than its 64 at once).
                const int64_t layer_tiles = ntiles / axes[0].tiles;
                const bool layered = kDirect && !uniform && axes.size() >= 2 && layer_tiles >= 32;
                if (!uniform) {
                    tile_windows(src, axes, bins, inner, m, layered ? layer_tiles : 0, table_budget / workers);
                } else {
                    m.uniform(ntiles, first, width);
                }
                // slot >= 0: one thread of a parallel region, with that histogram slot.
                auto build = [&](int64_t tile_begin, int64_t tile_end, int slot = -1) {
                    clahe_tiles(src, sel, axes, s, bins, clip, slot >= 0 ? 1 : inner, m, tile_begin, tile_end, slot);
                    if constexpr (kDirect) {
                        // One bin per level: identity tiles become tables too.
                        for (int64_t tile = tile_begin; tile < tile_end; ++tile) {
                            if (!m.identity[tile]) continue;
                            T* lut = m.lut.data() + m.offset[tile];
                            const int64_t first_value = bins.lo + m.first[tile];
                            for (int64_t k = 0; k < m.width[tile]; ++k)
                                lut[k] = rescale(static_cast<T>(first_value + k), s);
                        }
                    }
                };
                if constexpr (kDirect) {
                    if (cells || blend) {
                        build(0, ntiles);
                        if (cells) {
                            clahe_pixels_cells(src, dst, axes[0], axes[1], s, m.lut.data(), bins.lo + first, width,
                                               denominator, inner, cell_tables[w]);
                        } else {
                            const int64_t olo = static_cast<int64_t>(s.out_lo);
                            std::vector<int32_t>& table = tables[w];
                            table.resize(ntiles * width);
                            for (int64_t j = 0; j < ntiles * width; ++j)
                                table[j] = static_cast<int32_t>(static_cast<int64_t>(m.lut[j]) - olo);
                            clahe_pixels_2d(src, dst, axes[0], axes[1], s, bins.lo + first, width, table,
                                            denominator, inner);
                        }
                        return;
                    }
                    std::vector<int64_t> origin(ntiles);
                    for (int64_t tile = 0; tile < ntiles; ++tile)
                        origin[tile] = m.offset[tile] - m.first[tile] - bins.lo;
                    const int64_t rows = pixels / axes.back().n;
                    if (!layered) {
                        build(0, ntiles);
                        clahe_pixels_levels(src, dst, axes, s, m.lut.data(), origin, denominator, inner, 0, rows);
                        return;
                    }
                    const int64_t rows_per_index = rows / axes[0].n;
                    // One parallel region (starting threads costs about 50 us each time),
                    // its phases separated by a barrier: building layer k + 1 (equal shares
                    // of its tiles), then the rows of layer k (lower = k along the first
                    // axis, equal shares), which read layers k and k + 1; the next build
                    // overwrites layer k's slot.  A worker that fails skips the remaining
                    // phases' work but still meets every barrier.
                    std::vector<int64_t> layer_rows(axes[0].tiles + 1, 0);
                    for (int64_t i = 0; i < axes[0].n; ++i) layer_rows[axes[0].lower[i] + 1] = i + 1;
                    for (int64_t k = 1; k <= axes[0].tiles; ++k)
                        layer_rows[k] = std::max(layer_rows[k], layer_rows[k - 1]);
                    const int team = plan_workers(layer_tiles, inner, 1);
                    m.hists.resize(static_cast<size_t>(team) * (s.nbins + 1));
                    Barrier barrier(team);
                    std::atomic<bool> failed{false};
                    parallel_for(team, team, 1, [&](int member, int64_t, int64_t) {
                        std::exception_ptr error;
                        auto phase = [&](auto&& work) {
                            if (!failed.load()) {
                                try {
                                    work();
                                } catch (...) {
                                    failed.store(true);
                                    error = std::current_exception();
                                }
                            }
                            barrier.wait();
                        };
                        auto build_share = [&](int64_t k) {
                            build(k * layer_tiles + layer_tiles * member / team,
                                  k * layer_tiles + layer_tiles * (member + 1) / team, member);
                        };
                        phase([&] { build_share(0); });
                        for (int64_t k = 0; k < axes[0].tiles; ++k) {
                            if (k + 1 < axes[0].tiles) phase([&] { build_share(k + 1); });
                            phase([&] {
                                clahe_pixels_levels(src, dst, axes, s, m.lut.data(), origin, denominator, 1,
                                                    layer_rows[k] * rows_per_index, layer_rows[k + 1] * rows_per_index,
                                                    member, team);
                            });
                        }
                        if (error) std::rethrow_exception(error);
                    });
                    return;
                }
                build(0, ntiles);
                clahe_pixels(src, dst, axes, s, bins, maps[w], denominator, inner);
            });
        }
    });
}

// Chunked CLAHE (Dask): the mappings of tiles whose histograms were summed
// over chunks, then the interpolation of one chunk, its axis plans sliced to
// the chunk's pixels (tile indices and weights stay those of the whole image).

// Mappings from histograms (ntiles x nbins, bins over the whole range): lut
// (ntiles x nbins, integers; identity tiles rescaled when one bin per level)
// or level/slope (ntiles x (nbins + 1), floats).
template <class T>
void clahe_maps_from(const int64_t* hists, int64_t ntiles, const Spec& spec, double clip_limit, int64_t clip_groups,
                     char* identity, T* lut, double* level, double* slope) {
    const int64_t nbins = spec.nbins;
    std::vector<double> cum(nbins);
    // The counted range: every counted pixel lies in some tile.
    ClipRule clip{clip_limit, clip_groups, nbins, -1};
    for (int64_t j = 0; j < ntiles * nbins; ++j) {
        if (hists[j]) {
            clip.lo = std::min(clip.lo, j % nbins);
            clip.hi = std::max(clip.hi, j % nbins);
        }
    }
    for (int64_t tile = 0; tile < ntiles; ++tile) {
        const bool mapped = tile_mapping<T>(hists + tile * nbins, spec, clip, 0, nbins, cum.data(),
                                            lut ? lut + tile * nbins : nullptr,
                                            level ? level + tile * (nbins + 1) : nullptr,
                                            slope ? slope + tile * (nbins + 1) : nullptr);
        identity[tile] = !mapped;
        if (!mapped && lut && nbins == static_cast<int64_t>(spec.hi - spec.lo) + 1) {
            for (int64_t k = 0; k < nbins; ++k)
                lut[tile * nbins + k] = rescale(static_cast<T>(static_cast<int64_t>(spec.lo) + k), spec);
        }
    }
}

template <class T>
void clahe_chunk(const T* in, T* out, const std::vector<AxisPlan>& axes, const Spec& spec, const char* identity,
                 const T* lut, const double* level, const double* slope, double denominator, int threads) {
    int64_t ntiles = 1;
    for (const AxisPlan& a : axes) ntiles *= a.tiles;
    const int64_t nbins = spec.nbins;
    ClaheMaps<T> maps;
    maps.identity.assign(identity, identity + ntiles);
    if constexpr (is_float_v<T>) {
        maps.level.assign(level, level + ntiles * (nbins + 1));
        maps.slope.assign(slope, slope + ntiles * (nbins + 1));
        clahe_pixels(in, out, axes, spec, FloatBins(spec.lo, spec.hi, nbins), maps, denominator, threads);
    } else {
        maps.uniform(ntiles, 0, nbins);
        std::copy(lut, lut + ntiles * nbins, maps.lut.begin());
        with_int_bins<T>(static_cast<int64_t>(spec.lo), static_cast<int64_t>(spec.hi), nbins, [&](const auto& bins) {
            if constexpr (std::is_same<std::decay_t<decltype(bins)>, DirectBins>::value) {
                std::vector<int64_t> origin(ntiles);
                for (int64_t tile = 0; tile < ntiles; ++tile) origin[tile] = tile * nbins - bins.lo;
                int64_t rows = 1;
                for (size_t d = 0; d + 1 < axes.size(); ++d) rows *= axes[d].n;
                clahe_pixels_levels(in, out, axes, spec, maps.lut.data(), origin, denominator, threads, 0, rows);
            } else {
                clahe_pixels(in, out, axes, spec, bins, maps, denominator, threads);
            }
        });
    }
}

}  // namespace histeq
