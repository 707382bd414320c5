// OpenCV's CLAHE, bit for bit (cv2.createCLAHE(clip, (tiles_x, tiles_y)).apply on
// uint8 and uint16 images), for compat='opencv': the arithmetic of OpenCV's
// clahe.cpp, which differs from histeq's own CLAHE in three ways.  The image is
// padded at the bottom and right only, mirrored without repeating the edge,
// up to whole tiles; each tile's histogram is clipped once at a count limit,
// the excess handed out evenly with the remainder on every (bins /
// remainder)-th bin from the first; and the tables are interpolated in single
// precision, rounding halves to even.  The caller gives the tile size and the
// count limit (0: no clipping), derived from OpenCV's rules in Python.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "equalize.hpp"
#include "parallel.hpp"
#include "simd.hpp"

namespace histeq {

// x rounded to the nearest integer, halves to even (as rint), for 0 <= x < 2^23: adding 2^23 leaves no
// fraction bits, so the float addition itself rounds; a function call (rint) keeps loops from vectorizing.
HISTEQ_INLINE inline float nearest_even(float x) {
    const float shift = 8388608.0f;
    return (x + shift) - shift;
}

// Index i of an axis of n, mirrored at the ends without repeating them (NumPy's "reflect").
inline int64_t mirrored(int64_t i, int64_t n) {
    if (n == 1) return 0;
    const int64_t period = 2 * (n - 1);
    i %= period;
    return i < n ? i : period - i;
}

template <class T>
void opencv_tile_tables(const T* src, int64_t height, int64_t width, int64_t tiles_y, int64_t tiles_x,
                        int64_t tile_h, int64_t tile_w, int64_t limit, int threads, float* table) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    const float scale = static_cast<float>(bins - 1) / static_cast<float>(tile_h * tile_w);
    parallel_for(tiles_y * tiles_x, threads, 1, [&](int, int64_t begin, int64_t end) {
        std::vector<int64_t> hist(bins);
        for (int64_t tile = begin; tile < end; ++tile) {
            const int64_t j = tile / tiles_x, i = tile % tiles_x;
            int64_t* h = hist.data();
            std::fill(h, h + bins, int64_t{0});
            const int64_t x0 = i * tile_w, x1 = (i + 1) * tile_w, inside = std::min(x1, width);
            for (int64_t y = j * tile_h; y < (j + 1) * tile_h; ++y) {
                const T* row = src + mirrored(y, height) * width;
                for (int64_t x = x0; x < inside; ++x) ++h[row[x]];
                for (int64_t x = std::max(inside, x0); x < x1; ++x) ++h[row[mirrored(x, width)]];  // right padding
            }
            if (limit > 0) {
                int64_t excess = 0;
                dispatch([&]() HISTEQ_INLINE {
                    int64_t* __restrict c = h;
                    const int64_t l = limit;
                    int64_t e = 0;
                    for (int64_t k = 0; k < bins; ++k) {
                        e += c[k] > l ? c[k] - l : 0;
                        c[k] = c[k] > l ? l : c[k];
                    }
                    excess = e;
                });
                const int64_t lift = excess / bins, residual = excess % bins;
                for (int64_t k = 0; k < bins; ++k) h[k] += lift;
                if (residual) {
                    const int64_t step = std::max<int64_t>(bins / residual, 1);
                    for (int64_t k = 0, given = 0; k < bins && given < residual; k += step, ++given) ++h[k];
                }
            }
            for (int64_t k = 1; k < bins; ++k) h[k] += h[k - 1];  // cumulative, then levels independently
            float* out = table + tile * bins;
            dispatch([&]() HISTEQ_INLINE {
                const int64_t* __restrict c = h;
                float* __restrict o = out;
                const float s = scale, top = static_cast<float>(bins - 1);
                for (int64_t k = 0; k < bins; ++k) {
                    const float level = nearest_even(static_cast<float>(c[k]) * s);
                    o[k] = level < top ? level : top;  // never below 0
                }
            });
        }
    });
}

// Along an axis of n pixels in tiles of `tile`: each pixel's two tiles and weights, in single precision.
struct OpencvAxis {
    std::vector<int64_t> low, high;
    std::vector<float> weight, rest;

    OpencvAxis(int64_t n, int64_t tile, int64_t tiles) : low(n), high(n), weight(n), rest(n) {
        const float inverse = 1.0f / static_cast<float>(tile);
        for (int64_t i = 0; i < n; ++i) {
            const float position = static_cast<float>(i) * inverse - 0.5f;
            const int64_t below = static_cast<int64_t>(std::floor(position));
            weight[i] = position - static_cast<float>(below);
            rest[i] = 1.0f - weight[i];
            low[i] = std::max<int64_t>(below, 0);
            high[i] = std::min<int64_t>(below + 1, tiles - 1);
        }
    }
};

template <class T>
void clahe_opencv_image(const T* src, T* dst, int64_t height, int64_t width, int64_t tiles_y, int64_t tiles_x,
                        int64_t tile_h, int64_t tile_w, int64_t limit, int threads) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    std::vector<float> table(tiles_y * tiles_x * bins);
    opencv_tile_tables(src, height, width, tiles_y, tiles_x, tile_h, tile_w, limit, threads, table.data());
    const OpencvAxis ys(height, tile_h, tiles_y), xs(width, tile_w, tiles_x);
    parallel_for(height, threads, std::max<int64_t>(1, kPixelGrain / std::max<int64_t>(width, 1)),
                 [&](int, int64_t begin, int64_t end) {
        for (int64_t y = begin; y < end; ++y) {
            const float* top = table.data() + ys.low[y] * tiles_x * bins;
            const float* bottom = table.data() + ys.high[y] * tiles_x * bins;
            const float ya = ys.weight[y], ya1 = ys.rest[y];
            dispatch([&]() HISTEQ_INLINE {
                const T* __restrict row = src + y * width;
                T* __restrict out = dst + y * width;
                const int64_t* __restrict lo = xs.low.data();
                const int64_t* __restrict hi = xs.high.data();
                const float* __restrict wx = xs.weight.data();
                const float* __restrict rx = xs.rest.data();
                const float top_level = static_cast<float>(bins - 1);
                for (int64_t x = 0; x < width; ++x) {
                    const int64_t v = row[x], left = lo[x] * bins + v, right = hi[x] * bins + v;
                    const float xa = wx[x], xa1 = rx[x];
                    const float result =
                        (top[left] * xa1 + top[right] * xa) * ya1 + (bottom[left] * xa1 + bottom[right] * xa) * ya;
                    const float level = nearest_even(result);  // the weights sum to 1: never below 0
                    out[x] = static_cast<T>(level < top_level ? level : top_level);
                }
            });
        }
    });
}

template <class T>
void clahe_opencv_batch(const T* in, T* out, int64_t batch, int64_t height, int64_t width, int64_t tiles_y,
                        int64_t tiles_x, int64_t tile_h, int64_t tile_w, int64_t limit, int threads) {
    const int64_t pixels = height * width;
    for_each_image(batch, threads, [&](int64_t b, int inner, int) {
        clahe_opencv_image(in + b * pixels, out + b * pixels, height, width, tiles_y, tiles_x, tile_h, tile_w, limit,
                           inner);
    });
}

}  // namespace histeq
