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

#include "binning.hpp"
#include "lut8.hpp"
#include "parallel.hpp"

namespace histeq {

// One call's binning and output ranges, shared by every image of the batch.
struct Spec {
    int64_t nbins = 256;
    bool data_range = false;       // bins span each image's own counted range
    double lo = 0, hi = 255;       // bin range when !data_range
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

template <class T>
Stats image_stats(const T* in, const bool* mask, int64_t n, int threads) {
    const int workers = plan_workers(n, threads, kPixelGrain);
    std::vector<Stats> part(workers);
    std::vector<char> any(workers, 0);
    parallel_for(n, threads, kPixelGrain, [&](int w, int64_t b, int64_t e) {
        int64_t count = 0;
        T lo = std::numeric_limits<T>::max(), hi = std::numeric_limits<T>::lowest();
        const T* __restrict src = in;
        // Branch-free selects so that the compiler can vectorize the scan.
        for (int64_t i = b; i < e; ++i) {
            const T v = src[i];
            const bool ok = counted(v, mask, i);
            count += ok;
            lo = (ok && v < lo) ? v : lo;
            hi = (ok && v > hi) ? v : hi;
        }
        part[w] = Stats{count, static_cast<double>(lo), static_cast<double>(hi)};
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
// NumPy's histogram does, so that histograms always have positive-width bins.
template <class T>
std::pair<double, double> bin_range(const Spec& spec, const Stats& stats) {
    if (!spec.data_range) return {spec.lo, spec.hi};
    if (stats.count == 0) return {0.0, is_float_v<T> ? 1.0 : 0.0};
    if constexpr (is_float_v<T>) {
        if (stats.vmin == stats.vmax) return {stats.vmin - 0.5, stats.vmax + 0.5};
        // As NumPy's histogram, refuse rather than bin with infinite edges.
        if (!std::isfinite(stats.vmax - stats.vmin))
            throw std::invalid_argument("the image's values span [" + std::to_string(stats.vmin) + ", " +
                                        std::to_string(stats.vmax) +
                                        "], too wide for finite bins (hi - lo overflows); scale the image down");
    }
    return {stats.vmin, stats.vmax};
}

// Counts 8-bit pixels into four interleaved 32-bit sub-histograms, reading
// eight at a time: consecutive equal pixels then hit different counters, which
// hides the store-to-load latency of incrementing one bin repeatedly.
template <class T>
void count_bytes(const T* in, int64_t n, int64_t* hist) {
    static_assert(sizeof(T) == 1, "8-bit only");
    constexpr unsigned flip = std::is_signed<T>::value ? 0x80u : 0u;  // int8 bins are v + 128
    const unsigned char* p = reinterpret_cast<const unsigned char*>(in);
    // Flush before a 32-bit counter could overflow.
    constexpr int64_t kBlock = int64_t{1} << 30;
    for (int64_t start = 0; start < n; start += kBlock) {
        const int64_t end = std::min(n, start + kBlock);
        uint32_t lane[4][256] = {};
        int64_t i = start;
        for (; i + 8 <= end; i += 8) {
            uint64_t w;
            std::memcpy(&w, p + i, 8);
            ++lane[0][(w & 0xff) ^ flip];
            ++lane[1][((w >> 8) & 0xff) ^ flip];
            ++lane[2][((w >> 16) & 0xff) ^ flip];
            ++lane[3][((w >> 24) & 0xff) ^ flip];
            ++lane[0][((w >> 32) & 0xff) ^ flip];
            ++lane[1][((w >> 40) & 0xff) ^ flip];
            ++lane[2][((w >> 48) & 0xff) ^ flip];
            ++lane[3][(w >> 56) ^ flip];
        }
        for (; i < end; ++i) ++lane[0][p[i] ^ flip];
        for (int k = 0; k < 256; ++k) hist[k] += int64_t{lane[0][k]} + lane[1][k] + lane[2][k] + lane[3][k];
    }
}

// hist (nbins) += counts of the counted pixels of in[0:n), binned by `bin`.
template <class T, class Bin>
void accumulate(const T* in, const bool* mask, int64_t n, const Bin& bin, int64_t nbins, int threads,
                int64_t* hist) {
    const int workers = plan_workers(n, threads, kPixelGrain);
    std::vector<int64_t> part(static_cast<size_t>(workers) * nbins, 0);
    parallel_for(n, threads, kPixelGrain, [&](int w, int64_t b, int64_t e) {
        int64_t* __restrict h = part.data() + static_cast<size_t>(w) * nbins;
        const T* __restrict src = in;
        if constexpr (sizeof(T) == 1 && std::is_same<Bin, DirectBins>::value) {
            if (!mask) {
                count_bytes(src + b, e - b, h);
                return;
            }
        }
        for (int64_t i = b; i < e; ++i) {
            const T v = src[i];
            if (!counted(v, mask, i)) continue;
            if constexpr (is_float_v<T>) {
                ++h[bin(bin.clip(static_cast<double>(v)))];
            } else {
                ++h[bin(static_cast<int64_t>(v))];
            }
        }
    });
    for (int w = 0; w < workers; ++w)
        for (int64_t k = 0; k < nbins; ++k) hist[k] += part[static_cast<size_t>(w) * nbins + k];
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

inline int64_t round_half_up_div(unsigned __int128 num, unsigned __int128 den) {
    return static_cast<int64_t>((2 * num + den) / (2 * den));
}

// round((span (c - c_min)) / d), halves up, for many c with one d: a floating
// reciprocal gives the quotient to within one, an exact integer check fixes it.
// Falls back to 128-bit division when the numerator could exceed 62 bits.
class RoundedRatio {
   public:
    RoundedRatio(uint64_t span, uint64_t d) : span_(span), d_(d), inv_(1.0 / (2.0 * static_cast<double>(d))) {
        fast_ = span == 0 || d < (uint64_t{1} << 61) / (span + 1);
    }
    int64_t operator()(uint64_t c) const {  // c = count above c_min, <= d
        if (!fast_) return round_half_up_div(static_cast<unsigned __int128>(c) * span_, d_);
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
        const unsigned __int128 num = static_cast<unsigned __int128>(x - nlo) * static_cast<uint64_t>(ohi - olo);
        return static_cast<T>(olo + round_half_up_div(num, static_cast<uint64_t>(nhi - nlo)));
    }
}

template <class T>
void apply_rescale(const T* in, T* out, int64_t n, const Spec& spec, int threads) {
    parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = rescale(in[i], spec);
    });
}

// Integer images: out = out_lo + round((out_hi - out_lo) (c(v) - c_min) / (N - c_min)),
// c the inclusive cumulative histogram, c_min its value at the lowest occupied bin.
template <class T, class Bin>
void equalize_int_image(const T* in, const bool* mask, T* out, int64_t n, const Spec& spec, const Bin& bin,
                        int threads) {
    const int64_t nbins = spec.nbins;
    std::vector<int64_t> hist(nbins, 0);
    accumulate(in, mask, n, bin, nbins, threads, hist.data());
    int64_t first = 0;
    while (first < nbins && hist[first] == 0) ++first;
    int64_t total = 0;
    for (int64_t k = first; k < nbins; ++k) total += hist[k];
    const int64_t c_min = first < nbins ? hist[first] : 0;
    if (total - c_min == 0) {
        apply_rescale(in, out, n, spec, threads);
        return;
    }
    const int64_t olo = static_cast<int64_t>(spec.out_lo);
    const uint64_t span = static_cast<uint64_t>(static_cast<int64_t>(spec.out_hi) - olo);
    std::vector<T> lut(nbins, static_cast<T>(olo));
    const RoundedRatio ratio(span, static_cast<uint64_t>(total - c_min));
    int64_t cum = 0;
    for (int64_t k = first; k < nbins; ++k) {
        cum += hist[k];
        lut[k] = static_cast<T>(olo + ratio(static_cast<uint64_t>(cum - c_min)));
    }
    apply_table(in, lut.data(), out, n, bin, threads);
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
void equalize_int(const T* in, const bool* mask, T* out, int64_t n, const Spec& spec, int threads) {
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
                     [&](const auto& bins) { equalize_int_image(in, mask, out, n, s, bins, threads); });
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
    std::vector<int64_t> hist(spec.nbins, 0);
    accumulate(in, mask, n, bins, spec.nbins, threads, hist.data());
    // The mapping is piecewise linear: level[k] at edge k, and linear in the
    // bin position inside each bin.
    const int64_t nb = spec.nbins;
    std::vector<double> level(nb + 1);
    double below = 0, total = 0;
    for (int64_t k = 0; k < nb; ++k) total += static_cast<double>(hist[k]);
    const double span = spec.out_hi - spec.out_lo;
    for (int64_t k = 0; k <= nb; ++k) {
        level[k] = spec.out_lo + span * (below / total);
        if (k < nb) below += static_cast<double>(hist[k]);
    }
    parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
        const T* __restrict src = in;
        T* __restrict dst = out;
        const double* __restrict lv = level.data();
        for (int64_t i = b; i < e; ++i) {
            const T v = src[i];
            if (std::isnan(v)) {
                dst[i] = v;
                continue;
            }
            const double x = bins.clip(static_cast<double>(v));
            const double t = bins.position(x);
            const int64_t k = bins.bin(x, t);
            double frac = t - static_cast<double>(k);
            frac = frac < 0 ? 0 : (frac > 1 ? 1 : frac);
            const double y = x >= bins.edges[k + 1] ? lv[k + 1] : lv[k] + frac * (lv[k + 1] - lv[k]);
            dst[i] = static_cast<T>(y);
        }
    });
}

// Parallelizes across images when there are enough to keep every worker busy,
// otherwise across the pixels of each image; either way each image's result is
// the same as processing it alone.
template <class Fn>
void for_each_image(int64_t batch, int threads, Fn&& fn) {
    if (threads > 1 && batch >= threads) {
        parallel_for(batch, threads, 1, [&](int, int64_t b, int64_t e) {
            for (int64_t i = b; i < e; ++i) fn(i, 1);
        });
    } else {
        for (int64_t i = 0; i < batch; ++i) fn(i, threads);
    }
}

template <class T>
void equalize_batch(const T* in, const bool* mask, T* out, int64_t batch, int64_t pixels, const Spec& spec,
                    int threads) {
    for_each_image(batch, threads, [&](int64_t b, int inner) {
        const int64_t off = b * pixels;
        const bool* m = mask ? mask + off : nullptr;
        if constexpr (is_float_v<T>) {
            equalize_float(in + off, m, out + off, pixels, spec, inner);
        } else {
            equalize_int(in + off, m, out + off, pixels, spec, inner);
        }
    });
}

// counts: (batch, nbins); ranges: (batch, 3) = bin range lo, hi and the number
// of counted pixels.
template <class T>
void histogram_batch(const T* in, const bool* mask, int64_t batch, int64_t pixels, const Spec& spec, int threads,
                     int64_t* counts, double* ranges) {
    std::fill(counts, counts + batch * spec.nbins, int64_t{0});
    for_each_image(batch, threads, [&](int64_t b, int inner) {
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
    for_each_image(batch, threads, [&](int64_t b, int inner) {
        apply_table(in + b * pixels, lut + b * lut_size, out + b * pixels, pixels, DirectBins{lo}, inner);
    });
}

}  // namespace histeq
