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

#include "histeq/tables/equalize.hpp"
#include "histeq/runtime/parallel.hpp"
#include "histeq/runtime/simd.hpp"

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

// The histogram of one (padded) tile.  8-bit tiles of many pixels go through
// equalize's ByteCounter, whose interleaved counters keep runs of one level
// (smooth areas) from waiting on each increment's store.
template <class T>
void opencv_tile_histogram(const T* src, int64_t height, int64_t width, int64_t y0, int64_t y1, int64_t x0, int64_t x1,
                           int64_t* h) {
    const int64_t inside = std::min(x1, width), counted = std::max<int64_t>(inside - x0, 0);
    auto count_padding = [&](const T* row) {  // right padding, mirrored
        for (int64_t x = std::max(inside, x0); x < x1; ++x) ++h[row[mirrored(x, width)]];
    };
    if constexpr (sizeof(T) == 1) {
        if ((y1 - y0) * (x1 - x0) >= 1024) {
            ByteCounter<T> counter;
            for (int64_t y = y0; y < y1; ++y) {
                const T* row = src + mirrored(y, height) * width;
                counter.add(row + x0, counted, h);
                count_padding(row);
            }
            counter.flush(h);
            return;
        }
    }
    for (int64_t y = y0; y < y1; ++y) {
        const T* row = src + mirrored(y, height) * width;
        for (int64_t x = x0; x < inside; ++x) ++h[row[x]];
        count_padding(row);
    }
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

// OpenCV's table: level k = min(rint(float(h[0] + ... + h[k]) * scale), top), in single precision, held in
// the image's type as OpenCV holds it.
template <class T>
void opencv_table_scalar(const int64_t* __restrict h, float scale, float top, T* __restrict out) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    int64_t sum = 0;
    for (int64_t k = 0; k < bins; ++k) {
        sum += h[k];
        out[k] = static_cast<T>(std::min(nearest_even(static_cast<float>(sum) * scale), top));  // never below 0
    }
}

#ifdef HISTEQ_X86
// The same, sixteen bins at a time, for tiles of fewer than 2^31 pixels (the
// counts and their sums fit 32 bits, and convert to float as the 64-bit ones
// would): an in-register prefix sum (four shifted adds), the same
// single-precision product and rounding.
template <class T>
__attribute__((target("avx512f,avx512dq,avx512vl,avx512bw"))) void opencv_table_avx512(const int64_t* h, float scale,
                                                                                       float top, T* out) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    const __m512i zero = _mm512_setzero_si512(), last = _mm512_set1_epi32(15);
    const __m512 vscale = _mm512_set1_ps(scale), vtop = _mm512_set1_ps(top), shift = _mm512_set1_ps(8388608.0f);
    __m512i carry = zero;
    for (int64_t k = 0; k < bins; k += 16) {  // bins is 256 or 65536
        const __m256i low = _mm512_cvtepi64_epi32(_mm512_loadu_si512(h + k));
        const __m256i high = _mm512_cvtepi64_epi32(_mm512_loadu_si512(h + k + 8));
        __m512i sum = _mm512_inserti64x4(_mm512_castsi256_si512(low), high, 1);
        sum = _mm512_add_epi32(sum, _mm512_alignr_epi32(sum, zero, 15));
        sum = _mm512_add_epi32(sum, _mm512_alignr_epi32(sum, zero, 14));
        sum = _mm512_add_epi32(sum, _mm512_alignr_epi32(sum, zero, 12));
        sum = _mm512_add_epi32(sum, _mm512_alignr_epi32(sum, zero, 8));
        sum = _mm512_add_epi32(sum, carry);
        carry = _mm512_permutexvar_epi32(last, sum);
        const __m512 level = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(sum), vscale), shift), shift);
        const __m512i q = _mm512_cvttps_epi32(_mm512_min_ps(level, vtop));
        if constexpr (sizeof(T) == 1)
            _mm512_mask_cvtepi32_storeu_epi8(out + k, 0xffff, q);
        else
            _mm512_mask_cvtepi32_storeu_epi16(out + k, 0xffff, q);
    }
}
#endif

// The tables of every tile of one image: table + tile * bins.
template <class T>
void opencv_tile_tables(const T* src, int64_t height, int64_t width, int64_t tiles_y, int64_t tiles_x, int64_t tile_h,
                        int64_t tile_w, int64_t limit, int threads, T* table) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    const float scale = static_cast<float>(bins - 1) / static_cast<float>(tile_h * tile_w);
    const float top = static_cast<float>(bins - 1);
    parallel_for(tiles_y * tiles_x, threads, 1, [&](int, int64_t begin, int64_t end) {
        std::vector<int64_t> hist(bins);
        for (int64_t tile = begin; tile < end; ++tile) {
            const int64_t j = tile / tiles_x, i = tile % tiles_x;
            int64_t* h = hist.data();
            std::fill(h, h + bins, int64_t{0});
            opencv_tile_histogram(src, height, width, j * tile_h, (j + 1) * tile_h, i * tile_w, (i + 1) * tile_w, h);
            if (limit > 0) opencv_clip<bins>(h, limit);
#ifdef HISTEQ_X86
            if (cpu_level() == 2 && tile_h * tile_w < (int64_t{1} << 31)) {
                opencv_table_avx512<T>(h, scale, top, table + tile * bins);
                continue;
            }
#endif
            opencv_table_scalar<T>(h, scale, top, table + tile * bins);
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
// order of operations.
template <class T>
HISTEQ_INLINE inline void blend_row(const T* __restrict row, T* __restrict out, int64_t begin, int64_t width,
                                    const T* __restrict top, const T* __restrict bottom, float ya, float ya1,
                                    const OpencvAxis& xs) {
    const int32_t* __restrict lo = xs.low.data();
    const int32_t* __restrict hi = xs.high.data();
    const float* __restrict wx = xs.weight.data();
    const float* __restrict rx = xs.rest.data();
    const float top_level = sizeof(T) == 1 ? 255.0f : 65535.0f;
    for (int64_t x = begin; x < width; ++x) {
        const int32_t v = row[x], left = lo[x] + v, right = hi[x] + v;
        const float xa = wx[x], xa1 = rx[x];
        const float tl = top[left], tr = top[right], bl = bottom[left], br = bottom[right];
        const float result = (tl * xa1 + tr * xa) * ya1 + (bl * xa1 + br * xa) * ya;
        const float level = nearest_even(result);  // the weights sum to 1: never below 0
        out[x] = static_cast<T>(std::min(level, top_level));
    }
}

#ifdef HISTEQ_X86
// Sixteen table entries as floats: the 32 bits at each entry's address, masked
// to T (the tables end in padding for the overreach).
template <class T>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) inline __m512 gathered_levels(const T* table,
                                                                                            __m512i index) {
    const __m512i keep = _mm512_set1_epi32(sizeof(T) == 1 ? 0xff : 0xffff);
    return _mm512_cvtepi32_ps(_mm512_and_si512(_mm512_i32gather_epi32(index, table, sizeof(T)), keep));
}

// blend_row, sixteen pixels at a time.
template <class T>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512dq"))) void blend_row_avx512(const T* row, T* out, int64_t width,
                                                                                    const T* top, const T* bottom,
                                                                                    float ya, float ya1,
                                                                                    const OpencvAxis& xs) {
    const __m512 vya = _mm512_set1_ps(ya), vya1 = _mm512_set1_ps(ya1), shift = _mm512_set1_ps(8388608.0f);
    const __m512 top_level = _mm512_set1_ps(sizeof(T) == 1 ? 255.0f : 65535.0f);
    int64_t x = 0;
    for (; x + 16 <= width; x += 16) {
        __m512i v;
        if constexpr (sizeof(T) == 1)
            v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + x)));
        else
            v = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(row + x)));
        const __m512i left = _mm512_add_epi32(_mm512_loadu_si512(xs.low.data() + x), v);
        const __m512i right = _mm512_add_epi32(_mm512_loadu_si512(xs.high.data() + x), v);
        const __m512 xa = _mm512_loadu_ps(xs.weight.data() + x), xa1 = _mm512_loadu_ps(xs.rest.data() + x);
        const __m512 upper = _mm512_add_ps(_mm512_mul_ps(gathered_levels(top, left), xa1),
                                           _mm512_mul_ps(gathered_levels(top, right), xa));
        const __m512 lower = _mm512_add_ps(_mm512_mul_ps(gathered_levels(bottom, left), xa1),
                                           _mm512_mul_ps(gathered_levels(bottom, right), xa));
        const __m512 result = _mm512_add_ps(_mm512_mul_ps(upper, vya1), _mm512_mul_ps(lower, vya));
        const __m512 level = _mm512_min_ps(_mm512_sub_ps(_mm512_add_ps(result, shift), shift), top_level);
        const __m512i q = _mm512_cvttps_epi32(level);
        if constexpr (sizeof(T) == 1)
            _mm512_mask_cvtepi32_storeu_epi8(out + x, 0xffff, q);
        else
            _mm512_mask_cvtepi32_storeu_epi16(out + x, 0xffff, q);
    }
    blend_row(row, out, x, width, top, bottom, ya, ya1, xs);
}
#endif

// One call's geometry: each row's and column's two tiles and weights, shared by the images of a batch.
struct OpencvGrid {
    int64_t height, width, tiles_y, tiles_x, tile_h, tile_w, limit;
    OpencvAxis ys, xs;

    OpencvGrid(int64_t height, int64_t width, int64_t tiles_y, int64_t tiles_x, int64_t tile_h, int64_t tile_w,
               int64_t limit, int64_t bins)
        : height(height),
          width(width),
          tiles_y(tiles_y),
          tiles_x(tiles_x),
          tile_h(tile_h),
          tile_w(tile_w),
          limit(limit),
          ys(height, tile_h, tiles_y, tiles_x * bins),
          xs(width, tile_w, tiles_x, bins) {}
};

// One image; `table` holds tiles_y * tiles_x * bins entries and 4 bytes of padding for the blend's 32-bit gathers.
template <class T>
void clahe_opencv_image(const T* src, T* dst, const OpencvGrid& grid, T* table, int threads) {
    const int64_t width = grid.width;
    opencv_tile_tables(src, grid.height, width, grid.tiles_y, grid.tiles_x, grid.tile_h, grid.tile_w, grid.limit,
                       threads, table);
#ifdef HISTEQ_X86
    const bool wide = cpu_level() == 2;
#endif
    parallel_for(grid.height, threads, std::max<int64_t>(1, kPixelGrain / std::max<int64_t>(width, 1)),
                 [&](int, int64_t begin, int64_t end) {
                     for (int64_t y = begin; y < end; ++y) {
                         const T* top = table + grid.ys.low[y];
                         const T* bottom = table + grid.ys.high[y];
                         const float ya = grid.ys.weight[y], ya1 = grid.ys.rest[y];
#ifdef HISTEQ_X86
                         if (wide) {
                             blend_row_avx512(src + y * width, dst + y * width, width, top, bottom, ya, ya1, grid.xs);
                             continue;
                         }
#endif
                         dispatch([&]() HISTEQ_INLINE {
                             blend_row(src + y * width, dst + y * width, 0, width, top, bottom, ya, ya1, grid.xs);
                         });
                     }
                 });
}

template <class T>
void clahe_opencv_batch(const T* in, T* out, int64_t batch, int64_t height, int64_t width, int64_t tiles_y,
                        int64_t tiles_x, int64_t tile_h, int64_t tile_w, int64_t limit, int threads) {
    constexpr int64_t bins = sizeof(T) == 1 ? 256 : 65536;
    const OpencvGrid grid(height, width, tiles_y, tiles_x, tile_h, tile_w, limit, bins);
    const int64_t pixels = height * width, stride = tiles_y * tiles_x * bins + 4 / sizeof(T);
    // One table set per worker, reused image after image; every entry is written before it is read, so only
    // the padding is cleared.
    const int workers = image_workers(batch, threads);
    std::unique_ptr<T[]> tables(new T[workers * stride]);
    for (int w = 0; w < workers; ++w)
        std::fill(tables.get() + w * stride + stride - 4 / sizeof(T), tables.get() + (w + 1) * stride, T{0});
    for_each_image(batch, threads, [&](int64_t b, int inner, int w) {
        clahe_opencv_image(in + b * pixels, out + b * pixels, grid, tables.get() + w * stride, inner);
    });
}

}  // namespace histeq
