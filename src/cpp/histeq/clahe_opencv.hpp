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
#include <memory>
#include <vector>

#include "equalize.hpp"
#include "parallel.hpp"
#include "simd.hpp"

#ifdef HISTEQ_X86
#include <immintrin.h>
#endif

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

// The histogram of one (padded) tile.  8-bit tiles of many pixels count into
// four histograms in turn: runs of one level (smooth areas) would otherwise
// make each increment wait for the previous one's store.
template <class T>
void opencv_tile_histogram(const T* src, int64_t height, int64_t width, int64_t y0, int64_t y1, int64_t x0,
                           int64_t x1, int64_t* h, int64_t* split) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    const int64_t inside = std::min(x1, width);
    const bool four = sizeof(T) == 1 && (y1 - y0) * (x1 - x0) >= 1024;
    if (four) std::fill(split, split + 4 * bins, int64_t{0});
    for (int64_t y = y0; y < y1; ++y) {
        const T* row = src + mirrored(y, height) * width;
        int64_t x = x0;
        if (four) {
            for (; x + 4 <= inside; x += 4) {
                ++split[row[x]];
                ++split[bins + row[x + 1]];
                ++split[2 * bins + row[x + 2]];
                ++split[3 * bins + row[x + 3]];
            }
        }
        for (; x < inside; ++x) ++h[row[x]];
        for (x = std::max(inside, x0); x < x1; ++x) ++h[row[mirrored(x, width)]];  // right padding
    }
    if (four)
        for (int64_t k = 0; k < bins; ++k) h[k] += split[k] + split[bins + k] + split[2 * bins + k] + split[3 * bins + k];
}

// OpenCV's clip: counts above `limit` cut to it, the excess handed out evenly,
// the remainder one each on every (bins / remainder)-th bin from the first.
template <int64_t bins>
void opencv_clip(int64_t* __restrict h, int64_t limit) {
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
    dispatch([&]() HISTEQ_INLINE {
        for (int64_t k = 0; k < bins; ++k) h[k] += lift;
    });
    if (residual) {
        const int64_t step = std::max<int64_t>(bins / residual, 1);
        for (int64_t k = 0, given = 0; k < bins && given < residual; k += step, ++given) ++h[k];
    }
}

// OpenCV's table: level k = min(rint(float(h[0] + ... + h[k]) * scale), top), in single precision.
template <int64_t bins>
void opencv_table_scalar(const int64_t* __restrict h, float scale, float top, float* __restrict out) {
    int64_t sum = 0;
    for (int64_t k = 0; k < bins; ++k) {
        sum += h[k];
        out[k] = std::min(nearest_even(static_cast<float>(sum) * scale), top);  // never below 0
    }
}

#ifdef HISTEQ_X86
// The same, eight bins at a time: an in-register prefix sum (three shifted
// adds) and the same single-precision conversion, product and rounding.
template <int64_t bins>
__attribute__((target("avx512f,avx512dq,avx512vl"))) void opencv_table_avx512(const int64_t* h, float scale, float top,
                                                                             float* out) {
    const __m512i zero = _mm512_setzero_si512(), last = _mm512_set1_epi64(7);
    const __m256 vscale = _mm256_set1_ps(scale), vtop = _mm256_set1_ps(top), shift = _mm256_set1_ps(8388608.0f);
    __m512i carry = zero;
    for (int64_t k = 0; k < bins; k += 8) {  // bins is 256 or 65536
        __m512i sum = _mm512_loadu_si512(h + k);
        sum = _mm512_add_epi64(sum, _mm512_alignr_epi64(sum, zero, 7));
        sum = _mm512_add_epi64(sum, _mm512_alignr_epi64(sum, zero, 6));
        sum = _mm512_add_epi64(sum, _mm512_alignr_epi64(sum, zero, 4));
        sum = _mm512_add_epi64(sum, carry);
        carry = _mm512_permutexvar_epi64(last, sum);
        const __m256 level = _mm256_sub_ps(_mm256_add_ps(_mm256_mul_ps(_mm512_cvtepi64_ps(sum), vscale), shift), shift);
        _mm256_storeu_ps(out + k, _mm256_min_ps(level, vtop));
    }
}
#endif

template <class T>
void opencv_tile_tables(const T* src, int64_t height, int64_t width, int64_t tiles_y, int64_t tiles_x,
                        int64_t tile_h, int64_t tile_w, int64_t limit, int threads, float* table) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    const float scale = static_cast<float>(bins - 1) / static_cast<float>(tile_h * tile_w);
    const float top = static_cast<float>(bins - 1);
    parallel_for(tiles_y * tiles_x, threads, 1, [&](int, int64_t begin, int64_t end) {
        std::vector<int64_t> hist(bins), split(sizeof(T) == 1 ? 4 * bins : 0);
        for (int64_t tile = begin; tile < end; ++tile) {
            const int64_t j = tile / tiles_x, i = tile % tiles_x;
            int64_t* h = hist.data();
            std::fill(h, h + bins, int64_t{0});
            opencv_tile_histogram(src, height, width, j * tile_h, (j + 1) * tile_h, i * tile_w, (i + 1) * tile_w, h,
                                  split.data());
            if (limit > 0) opencv_clip<bins>(h, limit);
#ifdef HISTEQ_X86
            if (cpu_level() == 2) {
                opencv_table_avx512<bins>(h, scale, top, table + tile * bins);
                continue;
            }
#endif
            opencv_table_scalar<bins>(h, scale, top, table + tile * bins);
        }
    });
}

// Along an axis of n pixels in tiles of `tile`: each pixel's two tiles and weights, in single precision.
// The tiles are kept as offsets into a row of tables (tile * bins) in 32 bits, which lets the blend gather
// 16 table entries per instruction (there are at most 2^31 entries; the Python side checks the budget).
struct OpencvAxis {
    std::vector<int32_t> low, high;
    std::vector<float> weight, rest;

    OpencvAxis(int64_t n, int64_t tile, int64_t tiles, int64_t stride) : low(n), high(n), weight(n), rest(n) {
        const float inverse = 1.0f / static_cast<float>(tile);
        for (int64_t i = 0; i < n; ++i) {
            const float position = static_cast<float>(i) * inverse - 0.5f;
            const int64_t below = static_cast<int64_t>(std::floor(position));
            weight[i] = position - static_cast<float>(below);
            rest[i] = 1.0f - weight[i];
            low[i] = static_cast<int32_t>(std::max<int64_t>(below, 0) * stride);
            high[i] = static_cast<int32_t>(std::min<int64_t>(below + 1, tiles - 1) * stride);
        }
    }
};

// One output row: OpenCV's blend of the four tables around each pixel, in single precision, in OpenCV's
// order of operations.  Everything the loop reads is a local, so that the compiler can keep it in
// registers and gather 16 entries at a time.
template <class T>
HISTEQ_INLINE inline void blend_row(const T* __restrict row, T* __restrict out, int64_t width,
                                    const float* __restrict top, const float* __restrict bottom, float ya, float ya1,
                                    const OpencvAxis& xs) {
    const int32_t* __restrict lo = xs.low.data();
    const int32_t* __restrict hi = xs.high.data();
    const float* __restrict wx = xs.weight.data();
    const float* __restrict rx = xs.rest.data();
    const float top_level = sizeof(T) == 1 ? 255.0f : 65535.0f;
    for (int64_t x = 0; x < width; ++x) {
        const int32_t v = row[x], left = lo[x] + v, right = hi[x] + v;
        const float xa = wx[x], xa1 = rx[x];
        const float result = (top[left] * xa1 + top[right] * xa) * ya1 + (bottom[left] * xa1 + bottom[right] * xa) * ya;
        const float level = nearest_even(result);  // the weights sum to 1: never below 0
        out[x] = static_cast<T>(std::min(level, top_level));
    }
}

template <class T>
void clahe_opencv_image(const T* src, T* dst, int64_t height, int64_t width, int64_t tiles_y, int64_t tiles_x,
                        int64_t tile_h, int64_t tile_w, int64_t limit, int threads) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    // Every entry is written before it is read: not zeroed first (64 KiB per image of a batch).
    const std::unique_ptr<float[]> table(new float[tiles_y * tiles_x * bins]);
    opencv_tile_tables(src, height, width, tiles_y, tiles_x, tile_h, tile_w, limit, threads, table.get());
    const OpencvAxis ys(height, tile_h, tiles_y, tiles_x * bins), xs(width, tile_w, tiles_x, bins);
    parallel_for(height, threads, std::max<int64_t>(1, kPixelGrain / std::max<int64_t>(width, 1)),
                 [&](int, int64_t begin, int64_t end) {
        for (int64_t y = begin; y < end; ++y) {
            const float* top = table.get() + ys.low[y];
            const float* bottom = table.get() + ys.high[y];
            const float ya = ys.weight[y], ya1 = ys.rest[y];
            dispatch([&]() HISTEQ_INLINE { blend_row(src + y * width, dst + y * width, width, top, bottom, ya, ya1, xs); });
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
