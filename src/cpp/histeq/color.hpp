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
#include <vector>

#include "binning.hpp"
#include "parallel.hpp"

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

// BT.601 luma Y' = 0.299 R + 0.587 G + 0.114 B.  Integer images use the same
// 14-bit fixed-point weights and rounding as OpenCV's RGB -> YCrCb conversion.
template <class T>
void luma(const T* rgb, T* y, int64_t n, int channels, int threads) {
    parallel_for(n, threads, 1 << 15, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T* p = rgb + i * channels;
            if constexpr (is_float_v<T>) {
                y[i] = static_cast<T>(0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]);
            } else {
                const int64_t v = int64_t{4899} * p[0] + int64_t{9617} * p[1] + int64_t{1868} * p[2];
                y[i] = static_cast<T>((v + (1 << 13)) >> 14);
            }
        }
    });
}

// Adds the change in luma to every channel: Cb and Cr (differences from Y')
// are unchanged, so this equals converting to Y'CbCr, replacing Y' and
// converting back, without rounding the chroma in between.
template <class T>
void luma_apply(const T* rgb, const T* y, const T* y_new, T* out, int64_t n, int channels, double lo, double hi,
                int threads) {
    parallel_for(n, threads, 1 << 15, [&](int, int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
            const T* p = rgb + i * channels;
            T* q = out + i * channels;
            if constexpr (is_float_v<T>) {
                if (std::isnan(y_new[i])) {
                    for (int c = 0; c < 3; ++c) q[c] = y_new[i];
                    copy_extra_channels(p, q, channels);
                    continue;
                }
            }
            const double delta = static_cast<double>(y_new[i]) - static_cast<double>(y[i]);
            for (int c = 0; c < 3; ++c) q[c] = clamp_to<T>(p[c] + delta, lo, hi);
            copy_extra_channels(p, q, channels);
        }
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

inline double srgb_to_linear(double c) {
    return c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4);
}
inline double linear_to_srgb(double c) {
    return c <= 0.0031308 ? 12.92 * c : 1.055 * std::pow(c, 1.0 / 2.4) - 0.055;
}
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
