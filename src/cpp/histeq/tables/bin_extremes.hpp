// The histogram of a float image with the least and the greatest counted value
// in every bin.
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

#include "histeq/tables/binning.hpp"
#include "histeq/tables/equalize.hpp"
#include "histeq/runtime/parallel.hpp"

namespace histeq {

// h[k] += the count, and low/high[k] the least/greatest value, of the counted
// pixels of in[b:e) in bin k (h: nbins + 1 entries, the last for pixels not
// counted; low/high untouched where a bin gets none).
template <class T>
void count_with_extremes(const T* in, const bool* mask, int64_t b, int64_t e, const FloatBins& bins, int64_t* h,
                         double* low, double* high) {
    int32_t index[kFloatBlock];
    const int32_t spare = static_cast<int32_t>(bins.nbins);
    for (int64_t start = b; start < e; start += kFloatBlock) {
        const int64_t m = std::min(kFloatBlock, e - start);
        float_bin_block(in + start, mask ? mask + start : nullptr, m, bins, index);
        for (int64_t i = 0; i < m; ++i) {
            const int32_t k = index[i];
            ++h[k];
            if (k == spare) continue;
            const double x = static_cast<double>(in[start + i]);
            low[k] = std::min(low[k], x);
            high[k] = std::max(high[k], x);
        }
    }
}

// histogram_batch's counts and ranges of float images, and low, high (batch,
// nbins): the extremes of each bin (+inf, -inf where it has no counted pixel),
// in the same pass over the pixels.
template <class T>
void histogram_extremes_batch(const T* in, const bool* mask, int64_t batch, int64_t pixels, const Spec& spec,
                              int threads, int64_t* counts, double* ranges, double* low, double* high) {
    static_assert(is_float_v<T>, "integer bins hold whole levels: their extremes are their levels");
    constexpr double kInf = std::numeric_limits<double>::infinity();
    const int64_t nbins = spec.nbins;
    for_each_image(batch, threads, [&](int64_t image, int inner, int) {
        const int64_t off = image * pixels;
        const bool* m = mask ? mask + off : nullptr;
        Stats st;
        if (spec.data_range) st = image_stats(in + off, m, pixels, inner);
        const auto range = bin_range<T>(spec, st);
        const FloatBins bins(range.first, range.second, nbins);
        // Each worker's part costs 3 nbins entries: at least 4 nbins pixels a worker.
        const int64_t grain = std::max<int64_t>(kPixelGrain, 4 * nbins);
        const size_t workers = static_cast<size_t>(plan_workers(pixels, inner, grain)), stride = nbins + 1;
        std::vector<int64_t> part_counts(workers * stride, 0);
        std::vector<double> part_low(workers * stride, kInf), part_high(workers * stride, -kInf);
        parallel_for(pixels, static_cast<int>(workers), grain, [&](int w, int64_t b, int64_t e) {
            const size_t at = static_cast<size_t>(w) * stride;
            count_with_extremes(in + off, m, b, e, bins, part_counts.data() + at, part_low.data() + at,
                                part_high.data() + at);
        });
        int64_t* h = counts + image * nbins;
        double* image_low = low + image * nbins;
        double* image_high = high + image * nbins;
        int64_t total = 0;
        for (int64_t k = 0; k < nbins; ++k) {
            h[k] = 0;
            image_low[k] = kInf;
            image_high[k] = -kInf;
            for (size_t w = 0; w < workers; ++w) {
                h[k] += part_counts[w * stride + k];
                image_low[k] = std::min(image_low[k], part_low[w * stride + k]);
                image_high[k] = std::max(image_high[k], part_high[w * stride + k]);
            }
            total += h[k];
        }
        ranges[3 * image] = range.first;
        ranges[3 * image + 1] = range.second;
        ranges[3 * image + 2] = static_cast<double>(total);
    });
}

}  // namespace histeq
