// Floating-point images through per-image piecewise-linear maps whose pieces
// may break inside a bin: a matching maps a pixel to Q(F(x)), F the image's
// cumulative histogram (linear inside each bin) and Q the target's quantile
// function (linear between its knots, with jumps over the target's gaps), so
// a bin that holds one of Q's knots is two or more pieces.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <type_traits>
#include <vector>

#include "histeq/tables/binning.hpp"
#include "histeq/tables/equalize.hpp"
#include "histeq/runtime/parallel.hpp"
#include "histeq/runtime/simd.hpp"

namespace histeq {

// One image's pieces, in units of bins of [lo, hi] (position t of a value):
// piece p starts at start[p] (ascending, every integer 0..nbins among them)
// and maps t to level[p] + (t - start[p]) slope[p]; the piece at nbins is
// the top, for t >= nbins.
struct Pieces {
    const double* start;
    const double* level;
    const double* slope;
    int64_t count;
};

// first[k]: the piece that starts at bin k, k = 0..nbins, and first[nbins + 1]
// = count.  Throws unless every integer 0..nbins starts a piece.
inline std::vector<int64_t> first_pieces(const Pieces& pieces, int64_t nbins) {
    std::vector<int64_t> first(nbins + 2);
    int64_t p = 0;
    for (int64_t k = 0; k <= nbins; ++k) {
        while (p < pieces.count && pieces.start[p] < static_cast<double>(k)) ++p;
        if (p == pieces.count || pieces.start[p] != static_cast<double>(k))
            throw std::invalid_argument("every bin edge 0..nbins must start a piece");
        first[k] = p;
    }
    first[nbins + 1] = pieces.count;
    return first;
}

// The position t (in bins) of a value, clipped to the bins' range; NaN at lo.
struct Positions {
    double lo, hi, range, scale, count;
    bool divide;

    explicit Positions(const FloatBins& bins)
        : lo(bins.lo),
          hi(bins.hi),
          range(bins.hi - bins.lo),
          scale(bins.scale),
          count(static_cast<double>(bins.nbins)),
          divide(bins.divide) {}
    HISTEQ_INLINE double operator()(double v, double& nan_or_zero) const {
        const double above_lo = v < lo ? lo : v;  // NaN stays NaN
        const double clipped = hi < above_lo ? hi : above_lo;
        nan_or_zero = clipped - clipped;               // added last, it turns a NaN's result into NaN
        const double x = lo < clipped ? clipped : lo;  // NaN -> lo, a valid position
        return divide ? (x - lo) / range * count : (x - lo) * scale;
    }
};

// The last piece starting at or below t among [p, p + n), by `steps`
// branch-free halvings (enough when n <= 2^steps).
HISTEQ_INLINE inline int64_t find_piece(const double* __restrict start, double t, int64_t p, int64_t n, int steps) {
    for (int s = 0; s < steps; ++s) {
        const int64_t half = n / 2;
        p = start[p + half] <= t ? p + half : p;
        n -= half;
    }
    return p;
}

// In two passes: every pixel as though its bin held at most two pieces (one
// branch-free halving, so the loop vectorizes; most bins hold one or two),
// the others marked NaN; then the NaN, with as many halvings as their bins
// need (a NaN pixel is mapped again, to NaN).
template <class T>
void map_pieces(const T* in, T* out, int64_t m, const FloatBins& bins, const Pieces& pieces, const int64_t* first,
                int steps) {
    const Positions position(bins);
    const int64_t nbins = bins.nbins;
    auto map_one = [&](int64_t i, int halvings) HISTEQ_INLINE {
        double nan_or_zero;
        const double t = position(static_cast<double>(in[i]), nan_or_zero);
        int64_t k = static_cast<int64_t>(t);
        k = k < nbins ? k : nbins;
        const int64_t n = first[k + 1] - first[k];
        const int64_t p = find_piece(pieces.start, t, first[k], n, halvings);
        const double rise = k == nbins ? 0.0 : pieces.slope[p];
        const double y = pieces.level[p] + (t - pieces.start[p]) * rise + nan_or_zero;
        const bool crowded = halvings && n > (int64_t{1} << halvings);
        out[i] = static_cast<T>(crowded ? std::numeric_limits<double>::quiet_NaN() : y);
    };
    if (steps == 0) {  // one piece per bin: nothing to mark
        dispatch([&]() HISTEQ_INLINE {
            for (int64_t i = 0; i < m; ++i) map_one(i, 0);
        });
        return;
    }
    dispatch([&]() HISTEQ_INLINE {
        for (int64_t i = 0; i < m; ++i) map_one(i, 1);
    });
    if (steps == 1) return;
    for (int64_t i = 0; i < m; ++i)
        if (out[i] != out[i]) map_one(i, steps);
}

// Image b of the batch through pieces[b], its bins over [ranges[b, 0], ranges[b, 1]].
template <class T>
void map_pieces_batch(const T* in, T* out, int64_t batch, int64_t pixels, const double* ranges, int64_t nbins,
                      const std::vector<Pieces>& pieces, int threads) {
    std::vector<std::vector<int64_t>> first(batch);
    for (int64_t b = 0; b < batch; ++b) first[b] = first_pieces(pieces[b], nbins);
    for_each_image(batch, threads, [&](int64_t b, int inner, int) {
        const FloatBins bins(ranges[2 * b], ranges[2 * b + 1], nbins);
        int64_t most = 1;
        for (int64_t k = 0; k <= nbins; ++k) most = std::max(most, first[b][k + 1] - first[b][k]);
        int steps = 0;
        while ((int64_t{1} << steps) < most) ++steps;
        parallel_for(pixels, inner, kPixelGrain, [&](int, int64_t s, int64_t e) {
            map_pieces(in + b * pixels + s, out + b * pixels + s, e - s, bins, pieces[b], first[b].data(), steps);
        });
    });
}

}  // namespace histeq
