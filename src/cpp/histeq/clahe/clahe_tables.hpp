// CLAHE's first phase: one mapping per tile (contextual region).  Each tile's
// pixels are counted into a histogram over the tile's window of bins, the
// histogram clipped (clip.hpp) and turned into a table of output levels
// (integers) or a piecewise-linear map (floats).
//
// Integer tables cover only the bins between the darkest and the brightest
// value of the pixels that read the tile (tile_windows): on images whose
// brightness varies across the field that is far less than the image's range,
// so there is less table to build and to keep in cache.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <type_traits>
#include <vector>

#include "histeq/clahe/clahe_plan.hpp"
#include "histeq/clahe/clip.hpp"
#include "histeq/tables/equalize.hpp"

namespace histeq {

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

    size_t bytes() const { return lut.bytes() + hists.bytes() + 8 * (level.capacity() + slope.capacity()); }
};

// Folds one row's pixels into their cells' extremes: run r of the row
// (runs_by_lower) lies in cell lead + lower[runs[r]].
template <class T>
void row_extremes(const T* src, const std::vector<int64_t>& runs, const int32_t* lower, int64_t lead, T* low, T* high) {
    dispatch([&]() HISTEQ_INLINE {
        for (size_t r = 0; r + 1 < runs.size(); ++r) {
            const int64_t x0 = runs[r], x1 = runs[r + 1], c = lead + lower[x0];
            T a = low[c], b = high[c];
            for (int64_t x = x0; x < x1; ++x) {
                a = src[x] < a ? src[x] : a;
                b = src[x] > b ? src[x] : b;
            }
            low[c] = a;
            high[c] = b;
        }
    });
}

// The darkest (low) and the brightest (high) value of each cell of one
// image, a cell being the pixels with the same lower tile along every axis;
// an empty cell holds (max, lowest).
template <class T>
void cell_extremes(const T* in, const Axes& axes, int threads, std::vector<T>& low, std::vector<T>& high) {
    const int ndim = static_cast<int>(axes.size());
    const AxisPlan& last = axes[ndim - 1];
    const std::vector<int64_t> cell_stride = tile_strides(axes);
    const std::vector<int64_t> runs = runs_by_lower(last);
    const int64_t ncells = tile_count(axes), width = last.n, rows = row_count(axes);
    const int workers = plan_workers(rows, threads, row_grain(width));
    low.assign(workers * ncells, std::numeric_limits<T>::max());
    high.assign(workers * ncells, std::numeric_limits<T>::lowest());
    parallel_for(rows, threads, row_grain(width), [&](int w, int64_t rb, int64_t re) {
        std::vector<int64_t> index(ndim);
        for (int64_t row = rb; row < re; ++row) {
            decode_row(row, axes, index.data());
            int64_t lead = 0;
            for (int d = 0; d < ndim - 1; ++d) lead += axes[d].lower[index[d]] * cell_stride[d];
            row_extremes(in + row * width, runs, last.lower, lead, low.data() + w * ncells, high.data() + w * ncells);
        }
    });
    for (int w = 1; w < workers; ++w) {
        for (int64_t c = 0; c < ncells; ++c) {
            low[c] = std::min(low[c], low[w * ncells + c]);
            high[c] = std::max(high[c], high[w * ncells + c]);
        }
    }
}

// Each tile's window of bins (maps.first, maps.width) from the cells'
// extremes, the tables one after another (maps.offset); returns their total
// length.  Along an axis, pixel i reads tiles lower[i] and upper(lower[i]),
// the second with weight w1[i], which may be 0 (borders, tile centres): the
// interpolation reads it all the same, so the windows must hold such values
// too.  Every reader of tile t lies in cells t - 1 or t along each axis.
template <class T, class Bins>
int64_t window_layout(const Axes& axes, const Bins& bins, const std::vector<T>& low, const std::vector<T>& high,
                      ClaheMaps<T>& maps) {
    const int ndim = static_cast<int>(axes.size());
    const std::vector<int64_t> cell_stride = tile_strides(axes);
    const int64_t ntiles = tile_count(axes);
    maps.first.resize(ntiles);
    maps.width.resize(ntiles);
    maps.offset.resize(ntiles);
    std::vector<int64_t> k(ndim);
    int64_t total = 0;
    for (int64_t tile = 0; tile < ntiles; ++tile) {
        int64_t rest = tile;
        for (int d = ndim - 1; d >= 0; --d) {
            k[d] = rest % axes[d].tiles;
            rest /= axes[d].tiles;
        }
        T a = std::numeric_limits<T>::max(), b = std::numeric_limits<T>::lowest();
        for (int corner = 0; corner < (1 << ndim); ++corner) {
            int64_t c = 0;
            for (int d = 0; d < ndim; ++d) c += std::max<int64_t>(k[d] - ((corner >> d) & 1), 0) * cell_stride[d];
            a = std::min(a, low[c]);  // an empty cell holds (max, lowest): no effect
            b = std::max(b, high[c]);
        }
        maps.first[tile] = a <= b ? bins(static_cast<int64_t>(a)) : 0;
        maps.width[tile] = a <= b ? bins(static_cast<int64_t>(b)) - maps.first[tile] + 1 : 1;
        maps.offset[tile] = total;
        total += maps.width[tile];
    }
    return total;
}

// The tables of each layer of layer_tiles tiles (along the first axis) moved
// to one of two slots, layer k in slot k % 2, one after another within it;
// returns the tables' new total length (two slots).
template <class T>
int64_t two_layer_slots(ClaheMaps<T>& maps, int64_t ntiles, int64_t layer_tiles) {
    int64_t slot = 0;
    for (int64_t t0 = 0; t0 < ntiles; t0 += layer_tiles) {
        const int64_t last = t0 + layer_tiles - 1;
        slot = std::max(slot, maps.offset[last] + maps.width[last] - maps.offset[t0]);
    }
    for (int64_t t0 = 0; t0 < ntiles; t0 += layer_tiles) {
        const int64_t shift = (t0 / layer_tiles % 2) * slot - maps.offset[t0];
        for (int64_t t = t0; t < t0 + layer_tiles; ++t) maps.offset[t] += shift;
    }
    return 2 * slot;
}

// Per-tile bin windows of an integer image (cell_extremes, window_layout).
// layer_tiles > 0: the tables in two layer slots (two_layer_slots).  Tables
// over `budget` bytes are refused (require_tables).
template <class T, class Bins>
void tile_windows(const T* in, const Axes& axes, const Bins& bins, int threads, ClaheMaps<T>& maps, int64_t layer_tiles,
                  double budget) {
    std::vector<T> low, high;
    cell_extremes(in, axes, threads, low, high);
    int64_t total = window_layout(axes, bins, low, high, maps);
    const int64_t ntiles = tile_count(axes);
    if (layer_tiles > 0 && layer_tiles < ntiles) total = two_layer_slots(maps, ntiles, layer_tiles);
    require_tables(static_cast<double>(total) * sizeof(T), budget);
    maps.lut.resize(total);
}

// The histogram of the box [lo, hi) of an image: its bins [first, first +
// width) and (floats) the spare bin nbins for pixels not counted must be
// cleared; counts land there only.
template <class T, class Bins>
void count_box(const T* in, const bool* mask, const Bins& bins, const std::vector<int64_t>& lo,
               const std::vector<int64_t>& hi, const std::vector<int64_t>& stride, std::vector<int64_t>& index,
               int64_t* hist) {
    auto for_each_row = [&](auto&& fn) { for_each_box_row(lo, hi, stride, index, fn); };
    if constexpr (sizeof(T) == 1 && std::is_same<Bins, DirectBins>::value) {
        int64_t area = 1;
        for (size_t d = 0; d < lo.size(); ++d) area *= hi[d] - lo[d];
        if (!mask && area >= 4096) {  // one byte counter across the rows; small tiles count directly
            ByteCounter<T> counter;
            for_each_row([&](int64_t offset, int64_t length) { counter.add(in + offset, length, hist); });
            counter.flush(hist);
            return;
        }
    }
    if constexpr (is_float_v<T>) {
        for_each_row(
            [&](int64_t offset, int64_t length) { count_range(in, mask, offset, offset + length, bins, hist); });
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
    const Clipped c =
        clip.grouped() ? Clipped{false, 0, 0} : clip_histogram(window, width, nbins, total, occupied, clip.limit);
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
// With one bin per level, identity tiles get the identity rescale as their
// table, so that the interpolation reads every tile alike.  slot >= 0: one
// thread, histogram slot `slot` of maps.hists, which the caller sized.
template <class T, class Bins>
void clahe_tiles(const T* in, const bool* mask, const Axes& axes, const Spec& spec, const Bins& bins,
                 const ClipRule& clip, int threads, ClaheMaps<T>& maps, int64_t tile_begin, int64_t tile_end,
                 int slot = -1) {
    constexpr bool kDirect = std::is_same<Bins, DirectBins>::value;
    const int ndim = static_cast<int>(axes.size());
    const int64_t nbins = spec.nbins;
    const std::vector<int64_t> stride = pixel_strides(axes);
    const int workers = slot >= 0 ? 1 : plan_workers(tile_end - tile_begin, threads, 1);
    // Floats count pixels that are not counted in a spare bin.
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
    parallel_items(tile_end - tile_begin, slot >= 0 ? 1 : threads, [&](int w, int64_t item) {
        int64_t* hist = maps.hists.data() + static_cast<size_t>(slot >= 0 ? slot : w) * (nbins + 1);
        auto& [cum, index, lo, hi] = scratch[w];
        const int64_t tile = tile_begin + item;
        // Integer counts land in the tile's window of bins only.
        const int64_t first = is_float_v<T> ? 0 : maps.first[tile];
        const int64_t width = is_float_v<T> ? nbins : maps.width[tile];
        tile_box(axes, tile, lo, hi);
        std::fill(hist + first, hist + first + width, int64_t{0});
        hist[nbins] = 0;
        count_box(in, mask, bins, lo, hi, stride, index, hist);
        T* lut = maps.lut.empty() ? nullptr : maps.lut.data() + maps.offset[tile];
        const bool mapped = tile_mapping<T>(hist, spec, clip, first, width, cum.data(), lut,
                                            maps.level.empty() ? nullptr : maps.level.data() + tile * (nbins + 1),
                                            maps.slope.empty() ? nullptr : maps.slope.data() + tile * (nbins + 1));
        maps.identity[tile] = !mapped;
        if constexpr (kDirect) {
            if (!mapped) {
                const int64_t first_value = bins.lo + first;
                for (int64_t k = 0; k < width; ++k) lut[k] = rescale(static_cast<T>(first_value + k), spec);
            }
        }
    });
}

// Mappings from histograms summed elsewhere (chunked CLAHE: ntiles x nbins,
// bins over the whole range): lut (ntiles x nbins, integers; identity tiles
// rescaled when one bin per level) or level/slope (ntiles x (nbins + 1), floats).
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
        const bool mapped =
            tile_mapping<T>(hists + tile * nbins, spec, clip, 0, nbins, cum.data(), lut ? lut + tile * nbins : nullptr,
                            level ? level + tile * (nbins + 1) : nullptr, slope ? slope + tile * (nbins + 1) : nullptr);
        identity[tile] = !mapped;
        if (!mapped && lut && nbins == static_cast<int64_t>(spec.hi - spec.lo) + 1) {
            for (int64_t k = 0; k < nbins; ++k)
                lut[tile * nbins + k] = rescale(static_cast<T>(static_cast<int64_t>(spec.lo) + k), spec);
        }
    }
}

}  // namespace histeq
