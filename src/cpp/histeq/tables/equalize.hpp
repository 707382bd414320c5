// Global histogram equalization of a batch of images, and their histograms.
//
// The batch is a C-contiguous (B, P) array: B images of P pixels each.  Every
// image is processed in the same phases (range, histogram, mapping, apply),
// each over an index range, so threads can split images or pixels and the
// result does not depend on the split.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "histeq/tables/binning.hpp"
#include "histeq/runtime/lut8.hpp"
#include "histeq/runtime/parallel.hpp"
#include "histeq/runtime/simd.hpp"
#include "histeq/runtime/wide_arithmetic.hpp"

namespace histeq {

// One call's binning and output ranges, shared by every image of the batch.
struct Spec {
    int64_t nbins = 256;
    bool data_range = false;                  // bins span each image's own counted range
    double lo = 0, hi = 255;                  // bin range when !data_range
    double nominal_lo = 0, nominal_hi = 255;  // source range of the identity rescale
    double out_lo = 0, out_hi = 255;
};

struct Stats {
    int64_t count = 0;  // pixels that feed the histogram (masked in, finite)
    double vmin = 0, vmax = 0;
};

constexpr int64_t kPixelGrain = 1 << 16;

template <class T>
inline bool counted(T v, const bool* mask, int64_t i) {
    if (mask && !mask[i]) return false;
    if constexpr (is_float_v<T>) return std::isfinite(v);
    return true;
}

// Count, min and max of the counted pixels of in[0:n).  Kept per lane of a
// vector's width and merged at the end, so that the loop vectorizes without
// reassociating floating-point min/max.
template <class T, bool kMasked>
HISTEQ_INLINE inline Stats scan_stats(const T* __restrict in, const uint8_t* __restrict mask, int64_t n) {
    constexpr int kLanes = 64 / sizeof(T);
    constexpr T kHigh = std::numeric_limits<T>::max(), kLow = std::numeric_limits<T>::lowest();
    auto counts = [](T v) -> int32_t {
        if constexpr (is_float_v<T>) return std::fabs(v) <= kHigh;  // finite
        return 1;
    };
    T lo[kLanes], hi[kLanes];
    int32_t lane_count[kLanes];
    std::fill(lo, lo + kLanes, kHigh);
    std::fill(hi, hi + kLanes, kLow);
    int64_t count = 0;
    int64_t i = 0;
    // Blocks keep the 32-bit lane counts from overflowing.
    for (int64_t block_end = 0; i + kLanes <= n; i = block_end) {
        block_end = std::min(n - n % kLanes, i + (int64_t{1} << 30));
        std::fill(lane_count, lane_count + kLanes, 0);
        for (; i < block_end; i += kLanes) {
            for (int j = 0; j < kLanes; ++j) {
                const T v = in[i + j];
                int32_t ok = counts(v);
                if constexpr (kMasked) ok &= mask[i + j];
                lane_count[j] += ok;
                const T low = ok ? v : kHigh, high = ok ? v : kLow;
                lo[j] = low < lo[j] ? low : lo[j];
                hi[j] = high > hi[j] ? high : hi[j];
            }
        }
        for (int j = 0; j < kLanes; ++j) count += lane_count[j];
    }
    T low = kHigh, high = kLow;
    for (int j = 0; j < kLanes; ++j) {
        low = lo[j] < low ? lo[j] : low;
        high = hi[j] > high ? hi[j] : high;
    }
    for (; i < n; ++i) {
        const T v = in[i];
        const bool ok = counts(v) && (!kMasked || mask[i]);
        count += ok;
        low = (ok && v < low) ? v : low;
        high = (ok && v > high) ? v : high;
    }
    return Stats{count, static_cast<double>(low), static_cast<double>(high)};
}

template <class T>
Stats image_stats(const T* in, const bool* mask, int64_t n, int threads) {
    const int workers = plan_workers(n, threads, kPixelGrain);
    std::vector<Stats> part(workers);
    parallel_for(n, threads, kPixelGrain, [&](int w, int64_t b, int64_t e) {
        const uint8_t* bytes = reinterpret_cast<const uint8_t*>(mask);
        dispatch([&]() HISTEQ_INLINE {
            part[w] =
                bytes ? scan_stats<T, true>(in + b, bytes + b, e - b) : scan_stats<T, false>(in + b, bytes, e - b);
        });
    });
    Stats total{0, 0, 0};
    for (const Stats& s : part) {
        if (!s.count) continue;
        total.vmin = total.count ? std::min(total.vmin, s.vmin) : s.vmin;
        total.vmax = total.count ? std::max(total.vmax, s.vmax) : s.vmax;
        total.count += s.count;
    }
    return total;
}

// The bin range an image uses.  An empty or constant data range is widened as
// NumPy's histogram does (and, where +-0.5 vanishes in rounding, to the
// neighbouring doubles), so that bins always have positive width.
template <class T>
std::pair<double, double> bin_range(const Spec& spec, const Stats& stats) {
    if (!spec.data_range) return {spec.lo, spec.hi};
    if (stats.count == 0) return {0.0, is_float_v<T> ? 1.0 : 0.0};
    double lo = stats.vmin, hi = stats.vmax;
    if constexpr (is_float_v<T>) {
        if (lo == hi) {
            lo -= 0.5;
            hi += 0.5;
        }
        if (lo == hi) {
            lo = std::nextafter(lo, -std::numeric_limits<double>::infinity());
            hi = std::nextafter(hi, std::numeric_limits<double>::infinity());
        }
        // As NumPy's histogram, refuse rather than bin with infinite edges.
        if (!std::isfinite(hi - lo))
            throw std::invalid_argument("the image's values span [" + std::to_string(stats.vmin) + ", " +
                                        std::to_string(stats.vmax) +
                                        "], too wide for finite bins (hi - lo overflows); scale the image down");
    }
    return {lo, hi};
}

// Counts 8-bit pixels into four interleaved 32-bit sub-histograms, reading
// eight at a time: consecutive equal pixels then hit different counters, which
// hides the store-to-load latency of incrementing one bin repeatedly.  Many
// short runs (the rows of a tile) can be added before one flush.
template <class T>
class ByteCounter {
    static_assert(sizeof(T) == 1, "8-bit only");
    static constexpr unsigned kFlip = std::is_signed<T>::value ? 0x80u : 0u;  // int8 bins are v + 128
    // Flush before a 32-bit counter could overflow.
    static constexpr int64_t kFlushEvery = int64_t{1} << 30;

   public:
    ByteCounter() { clear(); }

    void add(const T* in, int64_t n, int64_t* hist) {
        const unsigned char* p = reinterpret_cast<const unsigned char*>(in);
        while (n > 0) {
            const int64_t m = std::min(n, kFlushEvery - pending_);
            add_block(p, m);
            p += m;
            n -= m;
            pending_ += m;
            if (pending_ == kFlushEvery) flush(hist);
        }
    }

    // hist += the counts so far; the counter starts again from zero.
    void flush(int64_t* hist) {
        for (int k = 0; k < 256; ++k) hist[k] += int64_t{lane_[0][k]} + lane_[1][k] + lane_[2][k] + lane_[3][k];
        clear();
    }

   private:
    void clear() {
        std::memset(lane_, 0, sizeof(lane_));
        pending_ = 0;
    }

    void add_block(const unsigned char* p, int64_t n) {
        int64_t i = 0;
        for (; i + 8 <= n; i += 8) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            ++lane_[0][(w & 0xff) ^ kFlip];
            ++lane_[1][((w >> 8) & 0xff) ^ kFlip];
            ++lane_[2][((w >> 16) & 0xff) ^ kFlip];
            ++lane_[3][((w >> 24) & 0xff) ^ kFlip];
            ++lane_[0][((w >> 32) & 0xff) ^ kFlip];
            ++lane_[1][((w >> 40) & 0xff) ^ kFlip];
            ++lane_[2][((w >> 48) & 0xff) ^ kFlip];
            ++lane_[3][(w >> 56) ^ kFlip];
        }
        for (; i < n; ++i) ++lane_[0][p[i] ^ kFlip];
    }

    uint32_t lane_[4][256];
    int64_t pending_;
};

template <class T>
void count_bytes(const T* in, int64_t n, int64_t* hist) {
    ByteCounter<T> counter;
    counter.add(in, n, hist);
    counter.flush(hist);
}

// First guesses of the bins of in[0:m), for FloatBins::fine: floor(position),
// or -1 where the position is within kGuard of an integer (the edges decide
// those), or nbins for pixels not counted.  No branches and no table lookups,
// so the loop vectorizes; selects are arithmetic where GCC would branch.
template <class T, bool kMasked>
HISTEQ_INLINE inline void guess_float_bins(const T* __restrict in, const uint8_t* __restrict mask, int64_t m,
                                           const FloatBins& bins, int32_t* __restrict index) {
    const double lo = bins.lo, hi = bins.hi, scale = bins.scale, guard = FloatBins::kGuard;
    const int32_t nbins = static_cast<int32_t>(bins.nbins);
    for (int64_t i = 0; i < m; ++i) {
        const double v = static_cast<double>(in[i]);
        int32_t skip = !(std::fabs(v) <= std::numeric_limits<double>::max());  // NaN, inf
        if constexpr (kMasked) skip |= mask[i] == 0;
        const double clipped = hi < v ? hi : v;
        const double x = lo < clipped ? clipped : lo;  // NaN -> lo, a valid position
        const double t = (x - lo) * scale;
        const int32_t k = static_cast<int32_t>(t);
        const double frac = t - static_cast<double>(k);
        const int32_t near_edge = (frac < guard) | (frac > 1 - guard);
        const int32_t guess = k - near_edge * (k + 1);
        index[i] = guess + skip * (nbins - guess);
    }
}

// index[0:m) = the bin of each of src[0:m), or bins.nbins for a pixel not
// counted: the vectorized guess, checked against the edges where it is near one.
template <class T>
inline void float_bin_block(const T* src, const bool* sel, int64_t m, const FloatBins& bins, int32_t* index) {
    const int32_t spare = static_cast<int32_t>(bins.nbins);
    if (bins.fine) {
        const uint8_t* bytes = reinterpret_cast<const uint8_t*>(sel);
        dispatch([&]() HISTEQ_INLINE {
            if (bytes) {
                guess_float_bins<T, true>(src, bytes, m, bins, index);
            } else {
                guess_float_bins<T, false>(src, bytes, m, bins, index);
            }
        });
    } else {
        for (int64_t i = 0; i < m; ++i) index[i] = counted(src[i], sel, i) ? -1 : spare;
    }
    for (int64_t i = 0; i < m; ++i)
        if (index[i] < 0) index[i] = static_cast<int32_t>(bins(bins.clip(static_cast<double>(src[i]))));
}

// Pixels a float_bin_block call bins at once.
constexpr int64_t kFloatBlock = 512;

// h (nbins + 1 entries, the last for pixels not counted) += the float bins of in[b:e).
template <class T>
void count_floats(const T* in, const bool* mask, int64_t b, int64_t e, const FloatBins& bins, int64_t* h) {
    int32_t index[kFloatBlock];
    for (int64_t start = b; start < e; start += kFloatBlock) {
        const int64_t m = std::min(kFloatBlock, e - start);
        float_bin_block(in + start, mask ? mask + start : nullptr, m, bins, index);
        for (int64_t i = 0; i < m; ++i) ++h[index[i]];
    }
}

// h += counts of the counted pixels of in[b:e), binned by `bin`.
template <class T, class Bin>
void count_range(const T* in, const bool* mask, int64_t b, int64_t e, const Bin& bin, int64_t* h) {
    if constexpr (is_float_v<T>) {
        count_floats(in, mask, b, e, bin, h);
    } else {
        if constexpr (sizeof(T) == 1 && std::is_same<Bin, DirectBins>::value) {
            if (!mask) {
                count_bytes(in + b, e - b, h);
                return;
            }
        }
        const T* __restrict src = in;
        for (int64_t i = b; i < e; ++i) {
            if (mask && !mask[i]) continue;
            ++h[bin(static_cast<int64_t>(src[i]))];
        }
    }
}

// hist (nbins) += counts of the counted pixels of in[0:n), binned by `bin`.
template <class T, class Bin>
void accumulate(const T* in, const bool* mask, int64_t n, const Bin& bin, int64_t nbins, int threads, int64_t* hist) {
    const int workers = plan_workers(n, threads, kPixelGrain);
    // Float counting needs a spare bin; one integer worker counts in place.
    const int64_t stride = is_float_v<T> ? nbins + 1 : nbins;
    std::vector<int64_t> part;
    if (workers > 1 || is_float_v<T>) part.assign(static_cast<size_t>(workers) * stride, 0);
    parallel_for(n, threads, kPixelGrain, [&](int w, int64_t b, int64_t e) {
        count_range(in, mask, b, e, bin, part.empty() ? hist : part.data() + static_cast<size_t>(w) * stride);
    });
    for (int w = 0; w < static_cast<int>(part.size() / stride); ++w)
        for (int64_t k = 0; k < nbins; ++k) hist[k] += part[static_cast<size_t>(w) * stride + k];
}

// out[i] = table[index(in[i])] over [0, n), in parallel.
template <class T, class U, class Index>
void apply_table(const T* in, const U* table, U* out, int64_t n, const Index& index, int threads) {
    parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
        // Local restrict copies: stores through a byte pointer could otherwise
        // alias the closure and force reloads on every pixel.
        const T* __restrict src = in;
        const U* __restrict lut = table;
        U* __restrict dst = out;
        const Index idx = index;
        if constexpr (sizeof(T) == 1 && sizeof(U) == 1 && std::is_same<Index, DirectBins>::value) {
            const uint8_t flip = std::is_signed<T>::value ? 0x80 : 0;
            lut8(reinterpret_cast<const uint8_t*>(src) + b, reinterpret_cast<const uint8_t*>(lut),
                 reinterpret_cast<uint8_t*>(dst) + b, e - b, flip);
            return;
        }
        for (int64_t i = b; i < e; ++i) dst[i] = lut[idx(static_cast<int64_t>(src[i]))];
    });
}

// round((span (c - c_min)) / d), halves up, for many c with one d: a floating
// reciprocal gives the quotient to within one, an exact integer check fixes it.
// Falls back to exact 128-bit arithmetic when the numerator could exceed 62 bits.
class RoundedRatio {
   public:
    RoundedRatio(uint64_t span, uint64_t d) : span_(span), d_(d), inv_(1.0 / (2.0 * static_cast<double>(d))) {
        fast_ = span == 0 || d < (uint64_t{1} << 61) / (span + 1);
    }
    int64_t operator()(uint64_t c) const {  // c = count above c_min, <= d
        if (!fast_) return static_cast<int64_t>(product_ratio_rounded(c, span_, d_));
        const uint64_t num = 2 * span_ * c + d_, den = 2 * d_;
        uint64_t q = static_cast<uint64_t>(static_cast<double>(num) * inv_);
        while (q > 0 && q * den > num) --q;
        while ((q + 1) * den <= num) ++q;
        return static_cast<int64_t>(q);
    }

   private:
    uint64_t span_, d_;
    double inv_;
    bool fast_;
};

// The identity mapping used when an image has nothing to equalize: a linear
// rescale from the nominal input range to the output range.
template <class T>
T rescale(T v, const Spec& s) {
    if constexpr (is_float_v<T>) {
        if (std::isnan(v)) return v;
        double x = static_cast<double>(v);
        x = x < s.nominal_lo ? s.nominal_lo : (x > s.nominal_hi ? s.nominal_hi : x);
        return static_cast<T>(s.out_lo + (x - s.nominal_lo) * ((s.out_hi - s.out_lo) / (s.nominal_hi - s.nominal_lo)));
    } else {
        const int64_t nlo = static_cast<int64_t>(s.nominal_lo), nhi = static_cast<int64_t>(s.nominal_hi);
        const int64_t olo = static_cast<int64_t>(s.out_lo), ohi = static_cast<int64_t>(s.out_hi);
        int64_t x = static_cast<int64_t>(v);
        x = x < nlo ? nlo : (x > nhi ? nhi : x);
        if (nlo == olo && nhi == ohi) return static_cast<T>(x);
        return static_cast<T>(olo + static_cast<int64_t>(product_ratio_rounded(static_cast<uint64_t>(x - nlo),
                                                                               static_cast<uint64_t>(ohi - olo),
                                                                               static_cast<uint64_t>(nhi - nlo))));
    }
}

template <class T>
void apply_rescale(const T* in, T* out, int64_t n, const Spec& spec, int threads) {
    parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = rescale(in[i], spec);
    });
}

// The equalizing table of integer images: lut[k] = out_lo + round((out_hi -
// out_lo) (c(k) - c_min) / (N - c_min)), c the inclusive cumulative histogram,
// c_min its value at the lowest occupied bin.  Written for the bins [first,
// first + width) to lut[0, width) (default: all); the histogram must be empty
// outside them.  False when there is nothing to equalize (fewer than two
// occupied bins); lut is then untouched.
template <class T>
bool equalizing_lut(const int64_t* hist, const Spec& spec, T* lut, int64_t first = 0, int64_t width = -1) {
    const int64_t end = width < 0 ? spec.nbins : first + width;
    int64_t low = first;
    while (low < end && hist[low] == 0) ++low;
    int64_t total = 0;
    for (int64_t k = low; k < end; ++k) total += hist[k];
    const int64_t c_min = low < end ? hist[low] : 0;
    if (total - c_min == 0) return false;
    const int64_t olo = static_cast<int64_t>(spec.out_lo);
    const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(spec.out_hi) - olo);
    std::fill(lut, lut + (low - first), static_cast<T>(olo));
    const RoundedRatio ratio(span, static_cast<uint64_t>(total - c_min));
    int64_t cum = 0;
    for (int64_t k = low; k < end; ++k) {
        cum += hist[k];
        lut[k - first] = static_cast<T>(olo + ratio(static_cast<uint64_t>(cum - c_min)));
    }
    return true;
}

// Integer images through their equalizing table.  hist and lut are scratch
// buffers of nbins entries, reused across a batch.
template <class T, class Bin>
void equalize_int_image(const T* in, const bool* mask, T* out, int64_t n, const Spec& spec, const Bin& bin, int threads,
                        int64_t* hist, T* lut) {
    std::fill(hist, hist + spec.nbins, int64_t{0});
    accumulate(in, mask, n, bin, spec.nbins, threads, hist);
    if (equalizing_lut(hist, spec, lut)) {
        apply_table(in, lut, out, n, bin, threads);
    } else {
        apply_rescale(in, out, n, spec, threads);
    }
}

// Calls fn with the cheapest exact binner for integer bins over [lo, hi].
template <class T, class Fn>
void with_int_bins(int64_t lo, int64_t hi, int64_t nbins, Fn&& fn) {
    if (nbins == hi - lo + 1 && lo <= static_cast<int64_t>(std::numeric_limits<T>::min()) &&
        hi >= static_cast<int64_t>(std::numeric_limits<T>::max())) {
        fn(DirectBins{lo});
    } else {
        fn(IntBins{lo, hi, nbins});
    }
}

template <class T>
void equalize_int(const T* in, const bool* mask, T* out, int64_t n, const Spec& spec, int threads, int64_t* hist,
                  T* lut) {
    Spec s = spec;
    if (s.data_range) {
        const Stats st = image_stats(in, mask, n, threads);
        if (st.count == 0) {
            apply_rescale(in, out, n, s, threads);
            return;
        }
        s.lo = st.vmin;
        s.hi = st.vmax;
    }
    with_int_bins<T>(static_cast<int64_t>(s.lo), static_cast<int64_t>(s.hi), s.nbins,
                     [&](const auto& bins) { equalize_int_image(in, mask, out, n, s, bins, threads, hist, lut); });
}

// The piecewise-linear mapping of a float image, applied to in[0:m): with t
// the position of x in bins and k = min(floor(t), nbins), y = level[k] +
// (t - k) slope[k], where slope[nbins] = 0 so that x = hi (t >= nbins) maps to
// level[nbins] exactly.  The mapping is continuous, so taking k from t rather
// than from the edges moves y by rounding only.  NaN stays NaN.  No branches,
// so the loop vectorizes.
template <class T>
HISTEQ_INLINE inline void map_floats(const T* __restrict in, T* __restrict out, int64_t m, const FloatBins& bins,
                                     const double* __restrict level, const double* __restrict slope) {
    const double lo = bins.lo, hi = bins.hi, range = hi - lo, scale = bins.scale;
    const double count = static_cast<double>(bins.nbins);
    const int32_t nbins = static_cast<int32_t>(bins.nbins);
    const bool divide = bins.divide;
    for (int64_t i = 0; i < m; ++i) {
        const double v = static_cast<double>(in[i]);
        const double above_lo = v < lo ? lo : v;  // NaN stays NaN
        const double clipped = hi < above_lo ? hi : above_lo;
        const double nan_or_zero = clipped - clipped;  // added last, it turns a NaN's result into NaN
        const double x = lo < clipped ? clipped : lo;  // NaN -> lo, a valid position
        const double t = divide ? (x - lo) / range * count : (x - lo) * scale;
        int32_t k = static_cast<int32_t>(t);
        k = k < nbins ? k : nbins;
        out[i] = static_cast<T>(level[k] + (t - static_cast<double>(k)) * slope[k] + nan_or_zero);
    }
}

// Floating-point images: out = out_lo + (out_hi - out_lo) F(x) / N, F the
// cumulative histogram interpolated linearly inside each bin (so F is 0 at the
// lowest edge, N at the highest, and continuous).  NaN stays NaN.
template <class T>
void equalize_float(const T* in, const bool* mask, T* out, int64_t n, const Spec& spec, int threads) {
    const Stats st = image_stats(in, mask, n, threads);
    if (st.count == 0 || st.vmin == st.vmax) {
        apply_rescale(in, out, n, spec, threads);
        return;
    }
    const auto range = bin_range<T>(spec, st);
    const FloatBins bins(range.first, range.second, spec.nbins);
    const int64_t nb = spec.nbins;
    std::vector<int64_t> hist(nb, 0);
    accumulate(in, mask, n, bins, nb, threads, hist.data());
    // level[k]: the output at edge k; slope[k]: its rise across bin k.
    std::vector<double> level(nb + 1), slope(nb + 1, 0.0);
    double below = 0, total = 0;
    for (int64_t k = 0; k < nb; ++k) total += static_cast<double>(hist[k]);
    const double span = spec.out_hi - spec.out_lo;
    for (int64_t k = 0; k <= nb; ++k) {
        level[k] = spec.out_lo + span * (below / total);
        if (k < nb) below += static_cast<double>(hist[k]);
    }
    for (int64_t k = 0; k < nb; ++k) slope[k] = level[k + 1] - level[k];
    parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
        dispatch([&]() HISTEQ_INLINE { map_floats(in + b, out + b, e - b, bins, level.data(), slope.data()); });
    });
}

// Parallelizes across images when there are enough to keep every worker busy,
// otherwise across the pixels of each image; either way each image's result is
// the same as processing it alone.  fn(image, threads for it, worker); workers
// are numbered below image_workers(batch, threads).
inline int image_workers(int64_t batch, int threads) {
    return threads > 1 && batch >= threads ? plan_workers(batch, threads, 1) : 1;
}

template <class Fn>
void for_each_image(int64_t batch, int threads, Fn&& fn) {
    if (image_workers(batch, threads) > 1) {
        parallel_for(batch, threads, 1, [&](int w, int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) fn(i, 1, w);
        });
    } else {
        for (int64_t i = 0; i < batch; ++i) fn(i, threads, 0);
    }
}

template <class T>
void equalize_batch(const T* in, const bool* mask, T* out, int64_t batch, int64_t pixels, const Spec& spec,
                    int threads) {
    if constexpr (is_float_v<T>) {
        for_each_image(batch, threads, [&](int64_t b, int inner, int) {
            const int64_t off = b * pixels;
            equalize_float(in + off, mask ? mask + off : nullptr, out + off, pixels, spec, inner);
        });
    } else {
        const size_t workers = static_cast<size_t>(image_workers(batch, threads)), nbins = spec.nbins;
        std::vector<int64_t> hists(workers * nbins);
        std::vector<T> luts(workers * nbins);
        for_each_image(batch, threads, [&](int64_t b, int inner, int w) {
            const int64_t off = b * pixels;
            equalize_int(in + off, mask ? mask + off : nullptr, out + off, pixels, spec, inner,
                         hists.data() + w * nbins, luts.data() + w * nbins);
        });
    }
}

// counts: (batch, nbins); ranges: (batch, 3) = bin range lo, hi and the number
// of counted pixels.
template <class T>
void histogram_batch(const T* in, const bool* mask, int64_t batch, int64_t pixels, const Spec& spec, int threads,
                     int64_t* counts, double* ranges) {
    std::fill(counts, counts + batch * spec.nbins, int64_t{0});
    for_each_image(batch, threads, [&](int64_t b, int inner, int) {
        const int64_t off = b * pixels;
        const bool* m = mask ? mask + off : nullptr;
        Stats st;
        if (spec.data_range) st = image_stats(in + off, m, pixels, inner);
        const auto range = bin_range<T>(spec, st);
        int64_t* h = counts + b * spec.nbins;
        if constexpr (is_float_v<T>) {
            accumulate(in + off, m, pixels, FloatBins(range.first, range.second, spec.nbins), spec.nbins, inner, h);
        } else {
            with_int_bins<T>(static_cast<int64_t>(range.first), static_cast<int64_t>(range.second), spec.nbins,
                             [&](const auto& bins) { accumulate(in + off, m, pixels, bins, spec.nbins, inner, h); });
        }
        int64_t total = 0;
        for (int64_t k = 0; k < spec.nbins; ++k) total += h[k];
        ranges[3 * b] = range.first;
        ranges[3 * b + 1] = range.second;
        ranges[3 * b + 2] = static_cast<double>(total);
    });
}

// out[b, i] = lut[b, in[b, i] - lo]: integer images through per-image tables.
template <class T, class U>
void apply_lut_batch(const T* in, const U* lut, U* out, int64_t batch, int64_t pixels, int64_t lut_size, int64_t lo,
                     int threads) {
    for_each_image(batch, threads, [&](int64_t b, int inner, int) {
        apply_table(in + b * pixels, lut + b * lut_size, out + b * pixels, pixels, DirectBins{lo}, inner);
    });
}

}  // namespace histeq
