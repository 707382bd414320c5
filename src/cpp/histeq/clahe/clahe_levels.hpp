// CLAHE's interpolation kernel for integer images with one bin per level, any
// number of axes: the sum over the 2^ndim surrounding tiles, exact (levels
// above out_lo, integer weights).  Tile t's level for value v is lut[origin[t]
// + v] (identity tiles included); every pixel's value lies in the windows of
// the tiles it reads.
//
// Two passes per stretch of a row: the table reads (scalar: gathers are slow
// on many CPUs, and the reads are what bounds this), then the weighted sums
// and the rounding, vectorized -- in int32 where the sums fit, else in double,
// which is exact below 2^53 (the weights are planned to keep sums below 2^51).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>
#include <vector>

#include "histeq/clahe/clahe_plan.hpp"
#include "histeq/clahe/clahe_rounding.hpp"
#include "histeq/tables/equalize.hpp"

#ifdef HISTEQ_X86
#include <immintrin.h>
#endif

namespace histeq {

// Calls fn with the corner count as a constant where it is a common one
// (1, 2, 4; the unrolled code keeps its sums in registers), else with 0.
template <class Fn>
void with_corner_count(int corners, Fn&& fn) {
    switch (corners) {
        case 1:
            return fn(std::integral_constant<int, 1>{});
        case 2:
            return fn(std::integral_constant<int, 2>{});
        case 4:
            return fn(std::integral_constant<int, 4>{});
        default:
            return fn(std::integral_constant<int, 0>{});  // any count, summed in memory
    }
}

// Phase one of clahe_pixels_levels: for x in [x0, x1), the levels above olo
// (at most 16 bits) of the left (tile kx) and the right (tile kr) mapping of
// each corner's tile row, packed as left | right << 16 to out[c stride + x -
// base].  The common corner counts are unrolled, so that each value is read
// once for all its tables.
template <class T>
void gather_levels(const T* src, int64_t x0, int64_t x1, int64_t base, int corners, const int64_t* row_tile, int64_t kx,
                   int64_t kr, const T* lut, const int64_t* origin, int64_t olo, uint32_t* out, int64_t stride) {
    with_corner_count(corners, [&](auto fixed) {
        constexpr int kFixed = decltype(fixed)::value;
        const int m = kFixed ? kFixed : corners;
        for (int c0 = 0; c0 < m; c0 += kFixed ? kFixed : 1) {
            constexpr int kTables = kFixed ? kFixed : 1;
            const T* left[kTables];
            const T* right[kTables];
            uint32_t* to[kTables];
            for (int c = 0; c < kTables; ++c) {
                left[c] = lut + origin[row_tile[c0 + c] + kx];
                right[c] = lut + origin[row_tile[c0 + c] + kr];
                to[c] = out + (c0 + c) * stride - base;
            }
            const int32_t low = static_cast<int32_t>(olo);
            for (int64_t x = x0; x < x1; ++x) {
                const int64_t v = static_cast<int64_t>(src[x]);
                for (int c = 0; c < kTables; ++c)
                    to[c][x] = static_cast<uint32_t>(static_cast<int32_t>(left[c][v]) - low) |
                               static_cast<uint32_t>(static_cast<int32_t>(right[c][v]) - low) << 16;
            }
        }
    });
}

// Phase two: the weighted sums of a stretch of n pixels, rounded halves up
// and stored (levels: gather_levels's pairs).  Acc = int32 where the sums fit
// (HalfUpDivision::small), else double, exact below 2^53: floor((2 acc + d) /
// 2d) is then a guess from the reciprocal (truncation is floor: num >= 0),
// corrected by one step each way; every product is an integer below 2^53 and
// the quotient a level of at most 16 bits.
template <class Acc, class T>
void blend_stretch(const uint32_t* levels, int64_t stride, int corners, const int64_t* weight, const Acc* wl,
                   const Acc* wr, int64_t n, const HalfUpDivision& rounding, double denominator, int64_t olo, T* out) {
    with_corner_count(corners, [&](auto fixed) {
        constexpr int kFixed = decltype(fixed)::value;
        dispatch([&]() HISTEQ_INLINE {
            // Locals: stores of a char type T could alias anything captured.
            const Acc* __restrict left_weight = wl;
            const Acc* __restrict right_weight = wr;
            const uint32_t* __restrict pairs = levels;
            T* __restrict dst = out;
            const int64_t count = n, step = stride;
            const int m = kFixed ? kFixed : corners;
            const HalfUpDivision round = rounding;
            const double d = denominator, twice = 2 * denominator, inverse = 1 / twice;
            const int32_t low = static_cast<int32_t>(olo);
            Acc w[kFixed ? kFixed : 1];
            for (int c = 0; c < kFixed; ++c) w[c] = static_cast<Acc>(weight[c]);
            for (int64_t i = 0; i < count; ++i) {
                Acc a = 0;
                for (int c = 0; c < m; ++c) {
                    const uint32_t pair = pairs[c * step + i];
                    a += (kFixed ? w[c] : static_cast<Acc>(weight[c])) *
                         (left_weight[i] * static_cast<Acc>(static_cast<int32_t>(pair & 0xffff)) +
                          right_weight[i] * static_cast<Acc>(static_cast<int32_t>(pair >> 16)));
                }
                if constexpr (std::is_same<Acc, int32_t>::value) {
                    dst[i] = static_cast<T>(low + static_cast<int32_t>(round.at32(a)));
                } else {
                    const double num = 2 * a + d;
                    const int32_t guess = static_cast<int32_t>(num * inverse);
                    const double rest = num - static_cast<double>(guess) * twice;
                    dst[i] = static_cast<T>(low + guess + (rest >= twice) - (rest < 0));
                }
            }
        });
    });
}

#ifdef HISTEQ_X86
// floor((2 acc + d) / 2d) of eight sums, as blend_stretch rounds them.
__attribute__((target("avx512f,avx512dq,avx512vl"))) inline __m256i halves_up_avx512(__m512d acc, __m512d d,
                                                                                     __m512d twice, __m512d inverse) {
    const __m512d num = _mm512_add_pd(_mm512_add_pd(acc, acc), d);
    const __m256i guess = _mm512_cvttpd_epi32(_mm512_mul_pd(num, inverse));
    const __m512d rest = _mm512_sub_pd(num, _mm512_mul_pd(_mm512_cvtepi32_pd(guess), twice));
    const __m256i one = _mm256_set1_epi32(1);
    const __m256i up = _mm256_maskz_mov_epi32(_mm512_cmp_pd_mask(rest, twice, _CMP_GE_OQ), one);
    const __m256i down = _mm256_maskz_mov_epi32(_mm512_cmp_pd_mask(rest, _mm512_setzero_pd(), _CMP_LT_OQ), one);
    return _mm256_sub_epi32(_mm256_add_epi32(guess, up), down);
}

// blend_stretch's double path for outputs of at most 16 bits, 16 pixels at a
// time, where the horizontal weights are below 2^15: each corner's horizontal
// sum wl L + wr R is one multiply-add of 16-bit pairs in int32 (the levels
// biased by -2^15 to fit signed words, bias = 2^15 (wl + wr) added back),
// exact; the weighted sum over the corners and the rounding as blend_stretch.
template <class T>
__attribute__((target("avx512f,avx512bw,avx512dq,avx512vl"))) void blend_pairs_avx512(
    const uint32_t* levels, int64_t stride, int corners, const int64_t* weight, const int32_t* weight_pairs,
    const int32_t* bias, int64_t n, double denominator, int32_t low, T* out) {
    static_assert(sizeof(T) <= 2, "levels of at most 16 bits");
    const __m512i flip = _mm512_set1_epi32(static_cast<int32_t>(0x80008000u)), vlow = _mm512_set1_epi32(low);
    const __m512d d = _mm512_set1_pd(denominator), twice = _mm512_set1_pd(2 * denominator);
    const __m512d inverse = _mm512_set1_pd(1 / (2 * denominator));
    for (int64_t x = 0; x < n; x += 16) {
        const __mmask16 valid = n - x >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - x)) - 1);
        const __m512i w = _mm512_maskz_loadu_epi32(valid, weight_pairs + x);
        const __m512i b = _mm512_maskz_loadu_epi32(valid, bias + x);
        __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
        for (int c = 0; c < corners; ++c) {
            const __m512i p = _mm512_xor_si512(_mm512_maskz_loadu_epi32(valid, levels + c * stride + x), flip);
            const __m512i h = _mm512_add_epi32(_mm512_madd_epi16(p, w), b);
            const __m512d wc = _mm512_set1_pd(static_cast<double>(weight[c]));
            lo = _mm512_add_pd(lo, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_castsi512_si256(h)), wc));
            hi = _mm512_add_pd(hi, _mm512_mul_pd(_mm512_cvtepi32_pd(_mm512_extracti64x4_epi64(h, 1)), wc));
        }
        const __m512i q =
            _mm512_add_epi32(_mm512_inserti64x4(_mm512_castsi256_si512(halves_up_avx512(lo, d, twice, inverse)),
                                                halves_up_avx512(hi, d, twice, inverse), 1),
                             vlow);
        if constexpr (sizeof(T) == 1) {
            _mm_mask_storeu_epi8(out + x, valid, _mm512_cvtepi32_epi8(q));
        } else {
            _mm256_mask_storeu_epi16(out + x, valid, _mm512_cvtepi32_epi16(q));
        }
    }
}
#endif

// The order of rows [row_begin, row_end), which bound whole indices of the
// first axis.  With 3 or more axes, band by band along the second axis (a
// band: the same lower tile), each band's rows for every index of the first
// axis: a band reads a quarter of the two layers' tables, which then stay in
// cache (measured: 128^3 16-bit, 10% faster than row by row).  Empty: in order.
inline std::vector<int64_t> band_order(const Axes& axes, int64_t row_begin, int64_t row_end) {
    std::vector<int64_t> order;
    if (axes.size() < 3) return order;
    const int64_t n1 = axes[1].n;
    int64_t inner = 1;
    for (size_t a = 2; a + 1 < axes.size(); ++a) inner *= axes[a].n;
    const int64_t i0b = row_begin / (n1 * inner), i0e = row_end / (n1 * inner);
    order.reserve(row_end - row_begin);
    const std::vector<int64_t> bands = runs_by_lower(axes[1]);
    for (size_t band = 0; band + 1 < bands.size(); ++band)
        for (int64_t i0 = i0b; i0 < i0e; ++i0)
            for (int64_t i1 = bands[band]; i1 < bands[band + 1]; ++i1)
                for (int64_t r = 0; r < inner; ++r) order.push_back((i0 * n1 + i1) * inner + r);
    return order;
}

// The corners of one row that carry weight: their tiles (but for the last
// axis's part) and weights; returns their count.  Bit (ndim - 2 - a) of
// corner c picks the upper tile along axis a.
inline int weighted_row_corners(const Axes& axes, const int64_t* index, const std::vector<int64_t>& tile_stride,
                                int64_t* row_tile, int64_t* weight) {
    const int ndim = static_cast<int>(axes.size());
    int used = 0;
    for (int c = 0; c < (1 << (ndim - 1)); ++c) {
        int64_t tile = 0, w = 1;
        for (int a = 0; a < ndim - 1; ++a) {
            const bool upper = (c >> (ndim - 2 - a)) & 1;
            const int64_t k = axes[a].lower[index[a]];
            w *= static_cast<int64_t>(upper ? axes[a].w1[index[a]] : axes[a].w0[index[a]]);
            tile += (upper ? axes[a].upper(k) : k) * tile_stride[a];
        }
        if (w == 0) continue;  // the border's unused neighbour
        row_tile[used] = tile;
        weight[used++] = w;
    }
    return used;
}

// What every row of one image shares, and the interpolation of one row.
template <class T>
class LevelsInterpolation {
   public:
    static constexpr int64_t kStretch = 256;

    LevelsInterpolation(const AxisPlan& last, const Spec& spec, const T* lut, const std::vector<int64_t>& origin,
                        double denominator)
        : last_(last),
          weights_(last),
          left_real_(last.w0, last.w0 + last.n),
          right_real_(last.w1, last.w1 + last.n),
          bias_(last.n),
          lut_(lut),
          origin_(origin),
          denominator_(denominator),
          olo_(static_cast<int64_t>(spec.out_lo)),
          rounding_(static_cast<int64_t>(denominator), static_cast<int64_t>(spec.out_hi - spec.out_lo)) {
        for (int64_t x = 0; x < last.n; ++x) bias_[x] = (weights_.left[x] + weights_.right[x]) << 15;
#ifdef HISTEQ_X86
        fast_blend_ = sizeof(T) <= 2 && cpu_level() == 2 && weights_.short_weights;
#endif
    }

    // One row: `used` corners (weighted_row_corners); levels: a buffer of
    // used x kStretch pairs.
    void row(const T* src, T* dst, int used, const int64_t* row_tile, const int64_t* weight, uint32_t* levels) const {
        const std::vector<int64_t>& runs = weights_.runs;
        const int64_t width = last_.n;
        size_t run = 0;
        for (int64_t s0 = 0; s0 < width; s0 += kStretch) {
            const int64_t s1 = std::min(width, s0 + kStretch);
            while (runs[run + 1] <= s0) ++run;
            for (size_t r = run; runs[r] < s1; ++r) {
                const int64_t x0 = std::max(runs[r], s0), x1 = std::min(runs[r + 1], s1);
                const int64_t kx = last_.lower[x0];
                gather_levels(src, x0, x1, s0, used, row_tile, kx, last_.upper(kx), lut_, origin_.data(), olo_, levels,
                              kStretch);
            }
            blend(levels, used, weight, s0, s1 - s0, dst + s0);
        }
    }

   private:
    void blend(const uint32_t* levels, int used, const int64_t* weight, int64_t s0, int64_t n, T* dst) const {
#ifdef HISTEQ_X86
        if constexpr (sizeof(T) <= 2) {
            if (!rounding_.small() && fast_blend_) {
                blend_pairs_avx512(levels, kStretch, used, weight, weights_.pairs.data() + s0, bias_.data() + s0, n,
                                   denominator_, static_cast<int32_t>(olo_), dst);
                return;
            }
        }
#endif
        if (rounding_.small()) {
            blend_stretch(levels, kStretch, used, weight, weights_.left.data() + s0, weights_.right.data() + s0, n,
                          rounding_, denominator_, olo_, dst);
        } else {
            blend_stretch(levels, kStretch, used, weight, left_real_.data() + s0, right_real_.data() + s0, n, rounding_,
                          denominator_, olo_, dst);
        }
    }

    const AxisPlan& last_;
    const LastAxisWeights weights_;
    const std::vector<double> left_real_, right_real_;
    std::vector<int32_t> bias_;
    const T* lut_;
    const std::vector<int64_t>& origin_;
    const double denominator_;
    const int64_t olo_;
    const HalfUpDivision rounding_;
    bool fast_blend_ = false;
};

// The rows [row_begin, row_end) of one image (band_order).  parts > 1: one
// thread, the part-th of `parts` equal shares of these rows.
template <class T>
void clahe_pixels_levels(const T* in, T* out, const Axes& axes, const Spec& spec, const T* lut,
                         const std::vector<int64_t>& origin, double denominator, int threads, int64_t row_begin,
                         int64_t row_end, int part = 0, int parts = 1) {
    const int ndim = static_cast<int>(axes.size());
    const int64_t width = axes[ndim - 1].n;
    const std::vector<int64_t> tile_stride = tile_strides(axes);
    const LevelsInterpolation<T> interpolation(axes[ndim - 1], spec, lut, origin, denominator);
    const std::vector<int64_t> order = band_order(axes, row_begin, row_end);
    const int64_t steps = row_end - row_begin;
    const int64_t share_begin = steps * part / parts, share_end = steps * (part + 1) / parts;
    parallel_for(share_end - share_begin, parts > 1 ? 1 : threads, row_grain(width),
                 [&](int, int64_t share_rb, int64_t share_re) {
                     const int row_corners = 1 << (ndim - 1);
                     std::vector<int64_t> row_tile(row_corners), weight(row_corners), index(ndim);
                     // Per corner: the left and the right tile's levels, paired (gather_levels).
                     std::vector<uint32_t> levels(row_corners * LevelsInterpolation<T>::kStretch);
                     for (int64_t step = share_begin + share_rb; step < share_begin + share_re; ++step) {
                         const int64_t row = order.empty() ? row_begin + step : order[step];
                         decode_row(row, axes, index.data());
                         const int used =
                             weighted_row_corners(axes, index.data(), tile_stride, row_tile.data(), weight.data());
                         interpolation.row(in + row * width, out + row * width, used, row_tile.data(), weight.data(),
                                           levels.data());
                     }
                 });
}

}  // namespace histeq
