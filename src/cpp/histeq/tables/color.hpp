// Colour transforms for equalizing one intensity channel of an RGB(A) image.
//
// Pixels are (n, channels) rows, channels >= 3; a 4th (alpha) channel is copied.
// Each mode has an "intensity" pass and an "apply" pass that rebuilds RGB from
// the original pixel and its new intensity, keeping what the mode promises to
// keep (chroma for lightness and luma, hue and saturation for value).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "histeq/tables/binning.hpp"
#include "histeq/tables/equalize.hpp"
#include "histeq/runtime/parallel.hpp"
#include "histeq/runtime/simd.hpp"

namespace histeq {

template <class T>
T clamp_to(double x, double lo, double hi) {
    x = x < lo ? lo : (x > hi ? hi : x);
    if constexpr (is_float_v<T>) {
        return static_cast<T>(x);
    } else {
        return static_cast<T>(std::floor(x + 0.5));
    }
}

template <class T>
void copy_extra_channels(const T* px, T* out, int channels) {
    for (int c = 3; c < channels; ++c) out[c] = px[c];
}

// Calls fn with the channel count (3 or 4) as a compile-time constant, so
// that per-pixel loops over interleaved channels vectorize.
template <class Fn>
void with_channels(int channels, Fn&& fn) {
    if (channels == 4) {
        fn(std::integral_constant<int, 4>{});
    } else {
        fn(std::integral_constant<int, 3>{});
    }
}

// BT.601 luma Y' = 0.299 R + 0.587 G + 0.114 B of m pixels of C channels.
// Integer images use the same 14-bit fixed-point weights and rounding as
// OpenCV's RGB -> YCrCb conversion (in 32 bits: 16384 * 65535 < 2^31).
template <class T, int C>
HISTEQ_INLINE inline void luma_block(const T* __restrict rgb, T* __restrict y, int64_t m) {
    for (int64_t i = 0; i < m; ++i) {
        const T* p = rgb + i * C;
        if constexpr (is_float_v<T>) {
            y[i] = static_cast<T>(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
        } else {
            const int32_t v = 4899 * int32_t{p[0]} + 9617 * int32_t{p[1]} + 1868 * int32_t{p[2]};
            y[i] = static_cast<T>((v + (1 << 13)) >> 14);
        }
    }
}

// Adds the change in luma to every channel: Cb and Cr (differences from Y')
// are unchanged, so this equals converting to Y'CbCr, replacing Y' and
// converting back, without rounding the chroma in between.  NaN stays NaN.
template <class T, int C>
HISTEQ_INLINE inline void luma_apply_block(const T* __restrict rgb, const T* __restrict y, const T* __restrict y_new,
                                           T* __restrict out, int64_t m, double lo, double hi) {
    for (int64_t i = 0; i < m; ++i) {
        const T* p = rgb + i * C;
        T* q = out + i * C;
        if constexpr (is_float_v<T>) {
            const double delta = static_cast<double>(y_new[i]) - static_cast<double>(y[i]);
            for (int c = 0; c < 3; ++c) q[c] = clamp_to<T>(p[c] + delta, lo, hi);
        } else {
            const int32_t delta = int32_t{y_new[i]} - int32_t{y[i]};
            const int32_t low = static_cast<int32_t>(lo), high = static_cast<int32_t>(hi);
            for (int c = 0; c < 3; ++c) {
                const int32_t v = int32_t{p[c]} + delta;
                q[c] = static_cast<T>(v < low ? low : (v > high ? high : v));
            }
        }
        if constexpr (C == 4) q[3] = p[3];
    }
}

template <class T>
void luma(const T* rgb, T* y, int64_t n, int channels, int threads) {
    with_channels(channels, [&](auto kChannels) {
        constexpr int C = decltype(kChannels)::value;
        parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
            dispatch([&]() HISTEQ_INLINE { luma_block<T, C>(rgb + b * C, y + b, e - b); });
        });
    });
}

template <class T>
void luma_apply(const T* rgb, const T* y, const T* y_new, T* out, int64_t n, int channels, double lo, double hi,
                int threads) {
    with_channels(channels, [&](auto kChannels) {
        constexpr int C = decltype(kChannels)::value;
        parallel_for(n, threads, kPixelGrain, [&](int, int64_t b, int64_t e) {
            dispatch([&]() HISTEQ_INLINE {
                luma_apply_block<T, C>(rgb + b * C, y + b, y_new + b, out + b * C, e - b, lo, hi);
            });
        });
    });
}

// Global equalization of the luma of a batch of integer RGB(A) images, (batch,
// pixels, C): the same result as computing luma, equalizing it as a grey
// image and applying the change, in two passes over the pixels and no
// intermediate image, since luma is recomputed block by block.
template <class T>
void equalize_luma_batch(const T* rgb, const bool* mask, T* out, int64_t batch, int64_t pixels, int channels,
                         const Spec& spec, int threads) {
    static_assert(!is_float_v<T>, "float images equalize luma as a grey image");
    constexpr double lo = std::numeric_limits<T>::min(), hi = std::numeric_limits<T>::max();
    constexpr int64_t kBlock = 2048;
    const size_t workers = static_cast<size_t>(image_workers(batch, threads)), nbins = spec.nbins;
    std::vector<int64_t> hists(workers * nbins);
    std::vector<T> luts(workers * nbins);
    with_channels(channels, [&](auto kChannels) {
        constexpr int C = decltype(kChannels)::value;
        for_each_image(batch, threads, [&](int64_t image, int inner, int w) {
            const T* src = rgb + image * pixels * C;
            T* dst = out + image * pixels * C;
            const bool* sel = mask ? mask + image * pixels : nullptr;
            int64_t* hist = hists.data() + w * nbins;
            T* lut = luts.data() + w * nbins;
            with_int_bins<T>(
                static_cast<int64_t>(spec.lo), static_cast<int64_t>(spec.hi), spec.nbins, [&](const auto& bins) {
                    // Pass 1: the luma histogram.
                    const int parts = plan_workers(pixels, inner, kPixelGrain);
                    std::vector<int64_t> part(parts > 1 ? parts * nbins : 0, 0);
                    std::fill(hist, hist + nbins, int64_t{0});
                    parallel_for(pixels, inner, kPixelGrain, [&](int p, int64_t b, int64_t e) {
                        int64_t* h = part.empty() ? hist : part.data() + p * nbins;
                        T y[kBlock];
                        for (int64_t start = b; start < e; start += kBlock) {
                            const int64_t m = std::min(kBlock, e - start);
                            dispatch([&]() HISTEQ_INLINE { luma_block<T, C>(src + start * C, y, m); });
                            count_range(y, sel ? sel + start : nullptr, 0, m, bins, h);
                        }
                    });
                    for (int p = 0; p < (part.empty() ? 0 : parts); ++p)
                        for (size_t k = 0; k < nbins; ++k) hist[k] += part[p * nbins + k];
                    // Pass 2: new luma through the table, applied to the pixels.
                    const bool equalized = equalizing_lut(hist, spec, lut);
                    parallel_for(pixels, inner, kPixelGrain, [&](int, int64_t b, int64_t e) {
                        T y[kBlock], y_new[kBlock];
                        for (int64_t start = b; start < e; start += kBlock) {
                            const int64_t m = std::min(kBlock, e - start);
                            dispatch([&]() HISTEQ_INLINE { luma_block<T, C>(src + start * C, y, m); });
                            if (equalized) {
                                for (int64_t i = 0; i < m; ++i) y_new[i] = lut[bins(static_cast<int64_t>(y[i]))];
                            } else {
                                for (int64_t i = 0; i < m; ++i) y_new[i] = rescale(y[i], spec);
                            }
                            dispatch([&]() HISTEQ_INLINE {
                                luma_apply_block<T, C>(src + start * C, y, y_new, dst + start * C, m, lo, hi);
                            });
                        }
                    });
                });
        });
    });
}

// HSV value V = max(R, G, B).
template <class T>
void value(const T* rgb, T* v, int64_t n, int channels, int threads) {
    parallel_for(n, threads, 1 << 15, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T* p = rgb + i * channels;
            if constexpr (is_float_v<T>) {
                // fmax ignores a NaN channel; a pixel is NaN only if all are.
                v[i] = static_cast<T>(std::fmax(std::fmax(p[0], p[1]), p[2]));
            } else {
                v[i] = std::max(std::max(p[0], p[1]), p[2]);
            }
        }
    });
}

// Scales the three channels by V'/V: ratios between channels, hence hue and
// saturation, are kept.  A black pixel (V = 0) has no hue and becomes grey V'.
template <class T>
void value_apply(const T* rgb, const T* v, const T* v_new, T* out, int64_t n, int channels, double lo, double hi,
                 int threads) {
    parallel_for(n, threads, 1 << 15, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T* p = rgb + i * channels;
            T* q = out + i * channels;
            const double old_v = static_cast<double>(v[i]), new_v = static_cast<double>(v_new[i]);
            if (!(old_v > 0)) {
                for (int c = 0; c < 3; ++c) q[c] = clamp_to<T>(new_v, lo, hi);
            } else if constexpr (is_float_v<T>) {
                const double ratio = new_v / old_v;
                for (int c = 0; c < 3; ++c) q[c] = clamp_to<T>(p[c] * ratio, lo, hi);
            } else {
                const uint64_t nv = static_cast<uint64_t>(v_new[i]), ov = static_cast<uint64_t>(v[i]);
                for (int c = 0; c < 3; ++c) {
                    const uint64_t num = 2 * static_cast<uint64_t>(p[c]) * nv + ov;
                    q[c] = clamp_to<T>(static_cast<double>(num / (2 * ov)), lo, hi);
                }
            }
            copy_extra_channels(p, q, channels);
        }
    });
}

// CIE L*a*b* of sRGB (IEC 61966-2-1) under D65, the white point of sRGB.
namespace lab {

constexpr double kXn = 0.95047, kZn = 1.08883;
constexpr double kDelta = 6.0 / 29.0;

inline double srgb_to_linear(double c) { return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4); }
inline double linear_to_srgb(double c) { return c <= 0.0031308 ? 12.92 * c : 1.055 * std::pow(c, 1.0 / 2.4) - 0.055; }
inline double f(double t) {
    return t > kDelta * kDelta * kDelta ? std::cbrt(t) : t / (3 * kDelta * kDelta) + 4.0 / 29.0;
}
inline double f_inv(double t) { return t > kDelta ? t * t * t : 3 * kDelta * kDelta * (t - 4.0 / 29.0); }

struct Lab {
    double l, a, b;
};

inline Lab from_linear(double r, double g, double b) {
    const double x = 0.4124564 * r + 0.3575761 * g + 0.1804375 * b;
    const double y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b;
    const double z = 0.0193339 * r + 0.1191920 * g + 0.9503041 * b;
    const double fy = f(y);
    return {116 * fy - 16, 500 * (f(x / kXn) - fy), 200 * (fy - f(z / kZn))};
}

inline void to_linear(const Lab& c, double rgb[3]) {
    const double fy = (c.l + 16) / 116;
    const double x = kXn * f_inv(fy + c.a / 500), y = f_inv(fy), z = kZn * f_inv(fy - c.b / 200);
    rgb[0] = 3.2404542 * x - 1.5371385 * y - 0.4985314 * z;
    rgb[1] = -0.9692660 * x + 1.8760108 * y + 0.0415560 * z;
    rgb[2] = 0.0556434 * x - 0.2040259 * y + 1.0572252 * z;
}

}  // namespace lab

// Linear-light values of channel code values in [0, scale]; integer images
// read them from a table of every level.
template <class T>
class Linearizer {
   public:
    explicit Linearizer(double scale) : scale_(scale) {
        if constexpr (!is_float_v<T>) {
            table_.resize(static_cast<size_t>(scale) + 1);
            for (size_t k = 0; k < table_.size(); ++k) table_[k] = lab::srgb_to_linear(k / scale);
        }
    }
    double operator()(T v) const {
        if constexpr (is_float_v<T>) {
            return lab::srgb_to_linear(std::clamp(static_cast<double>(v) / scale_, 0.0, 1.0));
        } else {
            return table_[static_cast<size_t>(v)];
        }
    }

   private:
    double scale_;
    std::vector<double> table_;
};

template <class T>
void lightness(const T* rgb, float* l, int64_t n, int channels, double scale, int threads) {
    const Linearizer<T> lin(scale);
    parallel_for(n, threads, 1 << 14, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T* p = rgb + i * channels;
            if constexpr (is_float_v<T>) {
                if (std::isnan(p[0]) || std::isnan(p[1]) || std::isnan(p[2])) {
                    l[i] = NAN;
                    continue;
                }
            }
            const double y = 0.2126729 * lin(p[0]) + 0.7151522 * lin(p[1]) + 0.0721750 * lin(p[2]);
            l[i] = static_cast<float>(116 * lab::f(y) - 16);
        }
    });
}

// Replaces L* and keeps a* and b*; colours that leave the sRGB gamut are
// clipped per channel in linear light.
template <class T>
void lightness_apply(const T* rgb, const float* l_new, T* out, int64_t n, int channels, double scale, double lo,
                     double hi, int threads) {
    const Linearizer<T> lin(scale);
    parallel_for(n, threads, 1 << 14, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T* p = rgb + i * channels;
            T* q = out + i * channels;
            if (std::isnan(l_new[i])) {
                for (int c = 0; c < 3; ++c) q[c] = static_cast<T>(p[c]);
                copy_extra_channels(p, q, channels);
                continue;
            }
            lab::Lab c = lab::from_linear(lin(p[0]), lin(p[1]), lin(p[2]));
            c.l = l_new[i];
            double linear[3];
            lab::to_linear(c, linear);
            for (int k = 0; k < 3; ++k) {
                const double encoded = lab::linear_to_srgb(std::clamp(linear[k], 0.0, 1.0)) * scale;
                q[k] = clamp_to<T>(encoded, lo, hi);
            }
            copy_extra_channels(p, q, channels);
        }
    });
}

}  // namespace histeq
