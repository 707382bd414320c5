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
#include <type_traits>
#include <vector>

#include "equalize.hpp"

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

inline Clipped clip_histogram(const int64_t* counts, int64_t length, int64_t nbins, int64_t total, double clip) {
    Clipped r{false, 0, 0};
    if (clip < 0) return r;
    const double count = static_cast<double>(nbins), mean = static_cast<double>(total) / count;
    double limit = clip * static_cast<double>(total) / count;
    limit = limit > mean ? limit : mean;
    // (how many counts exceed t, their sum)
    auto above = [&](double t, int64_t& sum) {
        const int64_t level = floor_of(t);
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
inline void clipped_cumulative(const int64_t* hist, int64_t first, int64_t width, const Clipped& c, double* cum) {
    const int64_t level = c.clipped ? floor_of(c.threshold) : std::numeric_limits<int64_t>::max();
    // The integer prefix sums first (a 1-cycle chain), packed as below << 32 |
    // over where they fit; then the rounding formula, independent per bin.
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
    const double t = c.threshold, lift = c.lift, base = static_cast<double>(first + 1);
    dispatch([&]() HISTEQ_INLINE {
        const int64_t* __restrict bs = below.data();
        const int64_t* __restrict os = over.data();
        double* __restrict f = cum;
        const int64_t n = width;
        for (int64_t k = 0; k < n; ++k)
            f[k] = (static_cast<double>(bs[k]) + static_cast<double>(os[k]) * t) + (base + static_cast<double>(k)) * lift;
    });
}

template <class T>
struct ClaheMaps {
    // Per tile: identity[tile] (nothing to equalize), and either integer
    // levels lut[tile * width + k - first] for the bins [first, first + width)
    // that the image's values fall in, or float levels and slopes (nbins + 1 each).
    std::vector<char> identity;
    std::vector<T> lut;
    int64_t first = 0, width = 0;
    std::vector<double> level, slope;
};

// The mapping of one tile from its histogram: global equalization of the
// clipped histogram, whose cumulative sum is F (clipped_cumulative; integers:
// levels rounded halves up, exactly equalizing_lut's when nothing is clipped;
// floats: the piecewise-linear map of equalize_float).  Integer levels are
// written for the bins [first, first + width) only, to lut[0, width); the
// histogram must be empty outside them, so the work is O(width).  False when
// fewer than two bins are occupied.  cum: width entries.
template <class T>
bool tile_mapping(const int64_t* hist, const Spec& spec, double clip, int64_t first, int64_t width, double* cum,
                  T* lut, double* level, double* slope) {
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
    const Clipped c = clip_histogram(window, width, nbins, total, clip);
    const double span = spec.out_hi - spec.out_lo;
    if constexpr (is_float_v<T>) {
        clipped_cumulative(hist, 0, nbins, c, cum);
        level[0] = spec.out_lo;
        for (int64_t k = 1; k <= nbins; ++k) level[k] = spec.out_lo + span * (cum[k - 1] / cum[nbins - 1]);
        for (int64_t k = 0; k < nbins; ++k) slope[k] = level[k + 1] - level[k];
        slope[nbins] = 0;
    } else if (!c.clipped) {
        equalizing_lut(hist, spec, lut, first, width);
    } else {
        // Every bin is lifted, so bin 0 is the first occupied: c_min = F(0);
        // the clipped histogram still sums to the pixel count.
        clipped_cumulative(hist, first, width, c, cum);
        const double h0 = first == 0 ? static_cast<double>(hist[0]) : 0.0;
        const double c_min = (h0 > c.threshold ? c.threshold : h0) + c.lift;
        const double scale = span / (static_cast<double>(total) - c_min);
        const int64_t olo = static_cast<int64_t>(spec.out_lo);
        dispatch([&]() HISTEQ_INLINE {
            // Locals: T may be a char type, whose stores could alias the captures.
            const double* __restrict f = cum;
            T* __restrict out = lut;
            const int64_t n = width, low = olo;
            const double shift = c_min, factor = scale;
            for (int64_t k = 0; k < n; ++k) {
                const double x = (f[k] - shift) * factor + 0.5;
                out[k] = static_cast<T>(low + static_cast<int64_t>(x));  // x >= 0.5: truncation is floor
            }
        });
    }
    return true;
}

// Histograms and mappings of every tile of one image.
template <class T, class Bins>
void clahe_tiles(const T* in, const bool* mask, const std::vector<AxisPlan>& axes, const Spec& spec,
                 const Bins& bins, double clip, int threads, ClaheMaps<T>& maps) {
    const int ndim = static_cast<int>(axes.size());
    const int64_t nbins = spec.nbins;
    int64_t ntiles = 1;
    for (const AxisPlan& a : axes) ntiles *= a.tiles;
    std::vector<int64_t> stride(ndim, 1);
    for (int d = ndim - 2; d >= 0; --d) stride[d] = stride[d + 1] * axes[d + 1].n;
    const int workers = plan_workers(ntiles, threads, 1);
    // Floats count pixels that are not counted in a spare bin.
    std::vector<int64_t> hists(static_cast<size_t>(workers) * (nbins + 1));
    parallel_for(ntiles, threads, 1, [&](int w, int64_t tb, int64_t te) {
        int64_t* hist = hists.data() + static_cast<size_t>(w) * (nbins + 1);
        // Integer counts land in the image's window of bins only.
        const int64_t first = is_float_v<T> ? 0 : maps.first, width = is_float_v<T> ? nbins : maps.width;
        std::vector<double> cum(width);
        std::vector<int64_t> index(ndim), lo(ndim), hi(ndim);
        for (int64_t tile = tb; tile < te; ++tile) {
            int64_t rest = tile;
            for (int d = ndim - 1; d >= 0; --d) {
                const int64_t k = rest % axes[d].tiles;
                rest /= axes[d].tiles;
                lo[d] = axes[d].start[k];
                hi[d] = axes[d].stop[k];
            }
            std::fill(hist + first, hist + first + width, int64_t{0});
            hist[nbins] = 0;
            // fn(offset, length) for each row of the tile's box along the last
            // axis, contiguous in memory.
            auto for_each_row = [&](auto&& fn) {
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
                } else {  // short rows: count directly, without per-call set-up
                    for_each_row([&](int64_t offset, int64_t length) {
                        for (int64_t i = offset; i < offset + length; ++i)
                            if (!mask || mask[i]) ++hist[bins(static_cast<int64_t>(in[i]))];
                    });
                }
            }
            const bool mapped = tile_mapping<T>(hist, spec, clip, first, width, cum.data(),
                                                maps.lut.empty() ? nullptr : maps.lut.data() + tile * maps.width,
                                                maps.level.empty() ? nullptr : maps.level.data() + tile * (nbins + 1),
                                                maps.slope.empty() ? nullptr : maps.slope.data() + tile * (nbins + 1));
            maps.identity[tile] = !mapped;
        }
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
                        y = static_cast<double>(maps.lut[tile * maps.width + b - maps.first]);
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
    uint64_t operator()(uint64_t num) const { return static_cast<uint64_t>((num * multiplier_) >> shift_); }

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
    int64_t operator()(int64_t acc) const { return small_ ? at<true>(acc) : at<false>(acc); }

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

// Integer images with one bin per level, any number of axes: the sum over
// the 2^ndim surrounding tiles is exact in int64 (levels above out_lo, integer
// weights).  lut: width levels per tile for the values first, first + 1, ...,
// identity tiles included.
template <class T>
void clahe_pixels_levels(const T* in, T* out, const std::vector<AxisPlan>& axes, const Spec& spec, int64_t first,
                         int64_t width_bins, const T* lut, double denominator, int threads) {
    const int ndim = static_cast<int>(axes.size());
    const AxisPlan& last = axes[ndim - 1];
    const int64_t width = last.n;
    int64_t rows = 1;
    for (int d = 0; d < ndim - 1; ++d) rows *= axes[d].n;
    std::vector<int64_t> tile_stride(ndim, 1);
    for (int d = ndim - 2; d >= 0; --d) tile_stride[d] = tile_stride[d + 1] * axes[d + 1].tiles;
    std::vector<int64_t> wl(width), wr(width), run_start{0};
    for (int64_t x = 0; x < width; ++x) {
        wl[x] = static_cast<int64_t>(last.w0[x]);
        wr[x] = static_cast<int64_t>(last.w1[x]);
        if (x && last.lower[x] != last.lower[x - 1]) run_start.push_back(x);
    }
    run_start.push_back(width);
    const int64_t olo = static_cast<int64_t>(spec.out_lo), span = static_cast<int64_t>(spec.out_hi - spec.out_lo);
    const HalfUpDivision rounding(static_cast<int64_t>(denominator), span);
    const int row_corners = 1 << (ndim - 1);
    parallel_for(rows, threads, std::max<int64_t>(1, kPixelGrain / width), [&](int, int64_t rb, int64_t re) {
        std::vector<const T*> base(row_corners);
        std::vector<int64_t> weight(row_corners), index(ndim);
        for (int64_t row = rb; row < re; ++row) {
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
                base[used] = lut + tile * width_bins - first;
                weight[used++] = w;
            }
            const T* src = in + row * width;
            T* dst = out + row * width;
            // Unrolled for the common counts of row corners (2-D: 1 or 2).
            auto runs = [&](auto kCorners, auto kSmall) {
                constexpr int fixed = decltype(kCorners)::value;
                const int corners = fixed ? fixed : used;
                // Locals: stores of a char type T could alias anything captured.
                const HalfUpDivision round = rounding;
                const int64_t low = olo;
                const T* corner_base[fixed ? fixed : 1];
                int64_t corner_weight[fixed ? fixed : 1];
                for (int c = 0; c < fixed; ++c) {
                    corner_base[c] = base[c];
                    corner_weight[c] = weight[c];
                }
                const T* const* bases = fixed ? corner_base : base.data();
                const int64_t* weights = fixed ? corner_weight : weight.data();
                const int64_t* __restrict left_weight = wl.data();
                const int64_t* __restrict right_weight = wr.data();
                T* __restrict row_out = dst;
                for (size_t r = 0; r + 1 < run_start.size(); ++r) {
                    const int64_t x0 = run_start[r], x1 = run_start[r + 1], kx = last.lower[x0];
                    const int64_t left = kx * width_bins, right = std::min(kx + 1, last.tiles - 1) * width_bins;
                    for (int64_t x = x0; x < x1; ++x) {
                        const int64_t v = static_cast<int64_t>(src[x]);
                        int64_t acc = 0;
                        for (int c = 0; c < corners; ++c) {
                            const T* t = bases[c] + v;
                            acc += weights[c] * (left_weight[x] * (static_cast<int64_t>(t[left]) - low) +
                                                 right_weight[x] * (static_cast<int64_t>(t[right]) - low));
                        }
                        row_out[x] = static_cast<T>(low + round.template at<decltype(kSmall)::value>(acc));
                    }
                }
            };
            using One = std::integral_constant<int, 1>;
            using Two = std::integral_constant<int, 2>;
            using Any = std::integral_constant<int, 0>;
            if (rounding.small()) {
                used == 1 ? runs(One{}, std::true_type{}) : used == 2 ? runs(Two{}, std::true_type{})
                                                                       : runs(Any{}, std::true_type{});
            } else {
                used == 1 ? runs(One{}, std::false_type{}) : used == 2 ? runs(Two{}, std::false_type{})
                                                                        : runs(Any{}, std::false_type{});
            }
        }
    });
}

template <class T>
void clahe_batch(const T* in, const bool* mask, T* out, int64_t batch, int64_t pixels,
                 const std::vector<AxisPlan>& axes, const Spec& spec, double clip, double denominator,
                 int threads) {
    int64_t ntiles = 1;
    for (const AxisPlan& a : axes) ntiles *= a.tiles;
    const int64_t nbins = spec.nbins;
    // Per worker: tile maps and the 2-D fast path's tables, reused across images.
    const int workers = image_workers(batch, threads);
    std::vector<ClaheMaps<T>> maps(workers);
    std::vector<std::vector<int32_t>> tables(workers);
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
        if (s.data_range || is_float_v<T> || sel) {
            // No pixel counted anywhere: the identity rescale, as equalize does.
            const Stats st = image_stats(src, sel, pixels, inner);
            if (st.count == 0) {
                apply_rescale(src, dst, pixels, s, inner);
                return;
            }
            if (s.data_range) {
                const auto range = bin_range<T>(s, st);
                s.lo = range.first;
                s.hi = range.second;
            }
        }
        if constexpr (is_float_v<T>) {
            const FloatBins bins(s.lo, s.hi, s.nbins);
            clahe_tiles(src, sel, axes, s, bins, clip, inner, maps[w]);
            clahe_pixels(src, dst, axes, s, bins, maps[w], denominator, inner);
        } else {
            // Tables are kept only for the bins the image's values fall in.
            const Stats all = image_stats(src, static_cast<const bool*>(nullptr), pixels, inner);
            with_int_bins<T>(static_cast<int64_t>(s.lo), static_cast<int64_t>(s.hi), s.nbins, [&](const auto& bins) {
                ClaheMaps<T>& m = maps[w];
                m.first = bins(static_cast<int64_t>(all.vmin));
                m.width = bins(static_cast<int64_t>(all.vmax)) - m.first + 1;
                m.lut.resize(ntiles * m.width);
                clahe_tiles(src, sel, axes, s, bins, clip, inner, m);
                if constexpr (std::is_same<std::decay_t<decltype(bins)>, DirectBins>::value) {
                    // One bin per level: identity tiles become tables too.
                    const int64_t first_value = bins.lo + m.first;
                    for (int64_t tile = 0; tile < ntiles; ++tile) {
                        if (!m.identity[tile]) continue;
                        T* lut = m.lut.data() + tile * m.width;
                        for (int64_t k = 0; k < m.width; ++k) lut[k] = rescale(static_cast<T>(first_value + k), s);
                    }
                    if (axes.size() == 2 && m.width * axes[1].tiles <= 2 * axes[1].n) {
                        const int64_t olo = static_cast<int64_t>(s.out_lo);
                        std::vector<int32_t>& table = tables[w];
                        table.resize(ntiles * m.width);
                        for (int64_t j = 0; j < ntiles * m.width; ++j)
                            table[j] = static_cast<int32_t>(static_cast<int64_t>(m.lut[j]) - olo);
                        clahe_pixels_2d(src, dst, axes[0], axes[1], s, first_value, m.width, table, denominator,
                                        inner);
                    } else {
                        clahe_pixels_levels(src, dst, axes, s, first_value, m.width, m.lut.data(), denominator,
                                            inner);
                    }
                    return;
                }
                clahe_pixels(src, dst, axes, s, bins, maps[w], denominator, inner);
            });
        }
    });
}

}  // namespace histeq
