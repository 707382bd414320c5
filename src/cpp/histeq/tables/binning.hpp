// Mapping from pixel values to histogram bins.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace histeq {

// Integer data: bins tile the integer levels [lo, hi]; bin k holds the levels
// whose centre lies in [lo - 1/2 + k w, lo - 1/2 + (k + 1) w), w = (hi - lo + 1) / nbins.
// Values outside [lo, hi] are clipped into the end bins.  Exact integer arithmetic:
// (2 (v - lo) + 1) nbins < 2^34 * 2^24 fits in int64.
struct IntBins {
    int64_t lo, hi, nbins;

    int64_t operator()(int64_t v) const {
        v = v < lo ? lo : (v > hi ? hi : v);
        const int64_t span = hi - lo + 1;
        if (span == nbins) return v - lo;
        return (2 * (v - lo) + 1) * nbins / (2 * span);
    }
};

// Same bins when they are one per level and cover the whole dtype: no clipping.
struct DirectBins {
    int64_t lo;
    int64_t operator()(int64_t v) const { return v - lo; }
};

// Floating-point data: nbins equal bins over [lo, hi] with NumPy's edges
// (edge k = lo + k (hi - lo) / nbins, last edge = hi) and NumPy's rule that a
// value on an inner edge belongs to the bin above it and the last bin is closed.
//
// position(x), x in units of bins, is 0 at lo and at least nbins at hi (the
// scale is rounded up until it is, so that the top of the range maps to the
// top level exactly); it guesses the bin, and the edge comparisons make
// membership exact.  Where nbins / (hi - lo) overflows (a subnormal range),
// position divides instead.
struct FloatBins {
    // Guess within this of an integer: check it against the edges.
    static constexpr double kGuard = 1.0 / 65536;

    double lo, hi;
    int64_t nbins;
    double scale;
    bool divide;
    std::vector<double> edges;
    // The edges are far enough apart, relative to the rounding in edges and
    // positions (under 2^-22 bins each), that a position farther than kGuard
    // from an integer lies in bin floor(position) by the edges too.
    bool fine;

    FloatBins(double lo_, double hi_, int64_t nbins_)
        : lo(lo_), hi(hi_), nbins(nbins_), scale(static_cast<double>(nbins_) / (hi_ - lo_)), edges(nbins_ + 1) {
        const double count = static_cast<double>(nbins);
        divide = !std::isfinite(scale);
        while (!divide && (hi - lo) * scale < count) scale = std::nextafter(scale, HUGE_VAL);
        const double step = (hi - lo) / count;
        for (int64_t k = 0; k < nbins; ++k) edges[k] = static_cast<double>(k) * step + lo;
        edges[nbins] = hi;
        fine = !divide && step >= std::ldexp(std::max(std::fabs(lo), std::fabs(hi)), -28);
    }

    double clip(double x) const { return x < lo ? lo : (x > hi ? hi : x); }

    double position(double x) const {
        return divide ? (x - lo) / (hi - lo) * static_cast<double>(nbins) : (x - lo) * scale;
    }

    // x must be finite and inside [lo, hi]; t = position(x).
    int64_t bin(double x, double t) const {
        int64_t b = t >= static_cast<double>(nbins) ? nbins - 1 : (t > 0 ? static_cast<int64_t>(t) : 0);
        while (b > 0 && x < edges[b]) --b;
        while (b < nbins - 1 && x >= edges[b + 1]) ++b;
        return b;
    }

    int64_t operator()(double x) const { return bin(x, position(x)); }
};

template <class T>
constexpr bool is_float_v = std::numeric_limits<T>::is_iec559;

}  // namespace histeq
