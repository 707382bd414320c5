// The least and the greatest counted value in every float bin of an image.
//
// Matching needs them: a bin whose counted values are all one value is a point
// of the target distribution, not a spread over the bin's width, so a pixel
// mapped into it takes that value (a label image, a binary mask as floats or
// quantized data keep their values as targets).
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "binning.hpp"
#include "equalize.hpp"
#include "parallel.hpp"

namespace histeq {

// low/high[k] over the counted pixels of in[b:e) in bin k (the counting's own
// binner, so that membership is the histogram's); untouched where none.
template <class T>
void extremes_range(const T* in, const bool* mask, int64_t b, int64_t e, const FloatBins& bins, double* low,
                    double* high) {
    int32_t index[kFloatBlock];
    const int32_t spare = static_cast<int32_t>(bins.nbins);
    for (int64_t start = b; start < e; start += kFloatBlock) {
        const int64_t m = std::min(kFloatBlock, e - start);
        float_bin_block(in + start, mask ? mask + start : nullptr, m, bins, index);
        for (int64_t i = 0; i < m; ++i) {
            const int32_t k = index[i];
            if (k == spare) continue;
            const double x = static_cast<double>(in[start + i]);
            low[k] = std::min(low[k], x);
            high[k] = std::max(high[k], x);
        }
    }
}

// low, high: (batch, nbins); ranges: (batch, 2), each image's bin range.  A
// bin with no counted pixel gets low = +inf, high = -inf.
template <class T>
void bin_extremes_batch(const T* in, const bool* mask, int64_t batch, int64_t pixels, const double* ranges,
                        int64_t nbins, int threads, double* low, double* high) {
    constexpr double kInf = std::numeric_limits<double>::infinity();
    for_each_image(batch, threads, [&](int64_t image, int inner, int) {
        const int64_t off = image * pixels;
        const bool* m = mask ? mask + off : nullptr;
        const FloatBins bins(ranges[2 * image], ranges[2 * image + 1], nbins);
        double* image_low = low + image * nbins;
        double* image_high = high + image * nbins;
        // Each worker's extremes cost 2 nbins doubles: at least 4 nbins pixels a worker.
        const int workers = plan_workers(pixels, inner, std::max<int64_t>(kPixelGrain, 4 * nbins));
        std::vector<double> part_low(static_cast<size_t>(workers) * nbins, kInf);
        std::vector<double> part_high(static_cast<size_t>(workers) * nbins, -kInf);
        parallel_for(pixels, workers, std::max<int64_t>(kPixelGrain, 4 * nbins), [&](int w, int64_t b, int64_t e) {
            extremes_range(in + off, m, b, e, bins, part_low.data() + static_cast<size_t>(w) * nbins,
                           part_high.data() + static_cast<size_t>(w) * nbins);
        });
        std::fill(image_low, image_low + nbins, kInf);
        std::fill(image_high, image_high + nbins, -kInf);
        for (int w = 0; w < workers; ++w)
            for (int64_t k = 0; k < nbins; ++k) {
                image_low[k] = std::min(image_low[k], part_low[static_cast<size_t>(w) * nbins + k]);
                image_high[k] = std::max(image_high[k], part_high[static_cast<size_t>(w) * nbins + k]);
            }
    });
}

}  // namespace histeq
