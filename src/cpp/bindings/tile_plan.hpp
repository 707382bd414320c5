// CLAHE's tile plan as a bound type (core.TilePlan): made once per image shape
// by histeq.clahe, checked once when made, so that no plan a kernel receives
// can make it read or write out of bounds.
#pragma once

#include <cmath>
#include <optional>
#include <vector>

#include "common.hpp"
#include "histeq/clahe/clahe_plan.hpp"

// The plan of one image (with tile bounds: histograms and interpolation) or of
// one chunk of an image (without: interpolation only, the chunk's pixels
// between the whole image's tiles).  It holds the arrays, so the axis plans'
// pointers stay valid while it lives.
class TilePlan {
   public:
    TilePlan(In<int64_t, 1> shape, In<int64_t, 1> tiles, std::optional<In<int64_t, 1>> bounds, In<int32_t, 1> lower,
             In<double, 1> w0, In<double, 1> w1, double denominator)
        : shape_(shape), tiles_(tiles), bounds_(bounds), lower_(lower), w0_(w0), w1_(w1), denominator_(denominator) {
        const size_t ndim = shape.shape(0);
        if (ndim < 1 || tiles.shape(0) != ndim) throw std::invalid_argument("shape and tiles need one entry per axis");
        if (ndim > kMaxAxes) throw std::invalid_argument("at most 16 spatial axes (2**axes tile corners per pixel)");
        if (!(denominator >= 1 && denominator < std::ldexp(1.0, kExactBits + 1)))
            throw std::invalid_argument("denominator out of range");
        size_t along = 0, bound_count = 0;
        double ntiles = 1;
        for (size_t d = 0; d < ndim; ++d) {
            if (shape(d) < 1 || tiles(d) < 1 || (bounds && tiles(d) > shape(d)))
                throw std::invalid_argument("every axis needs 1 <= tiles <= size");
            pixels_ *= shape(d);
            along += static_cast<size_t>(shape(d));
            bound_count += 2 * static_cast<size_t>(tiles(d));
            ntiles *= static_cast<double>(tiles(d));
        }
        if (ntiles > 0x1p31) throw std::invalid_argument("too many tiles (over 2**31)");
        ntiles_ = static_cast<int64_t>(ntiles);
        if ((bounds && bounds->shape(0) != bound_count) || lower.shape(0) != along || w0.shape(0) != along ||
            w1.shape(0) != along)
            throw std::invalid_argument("the tile plan's arrays have the wrong lengths");
        size_t b = 0, p = 0;
        for (size_t d = 0; d < ndim; ++d) {
            const int64_t n = shape(d), t = tiles(d);
            const int64_t* start = bounds ? bounds->data() + b : nullptr;
            axes_.push_back(histeq::AxisPlan{n, t, start, start ? start + t : nullptr, lower.data() + p, w0.data() + p,
                                             w1.data() + p});
            require_axis(axes_.back());
            b += 2 * static_cast<size_t>(t);
            p += static_cast<size_t>(n);
        }
    }

    const histeq::Axes& axes() const { return axes_; }
    bool has_bounds() const { return bounds_.has_value(); }
    int64_t pixels() const { return pixels_; }
    int64_t ntiles() const { return ntiles_; }
    size_t ndim() const { return axes_.size(); }
    double denominator() const { return denominator_; }

    // The plan fits images (batch, pixels) of this many pixels each.
    void require_pixels(size_t pixels) const {
        if (static_cast<size_t>(pixels_) != pixels)
            throw std::invalid_argument("the tile plan's shape must multiply to the pixels of one image");
    }

   private:
    static void require_axis(const histeq::AxisPlan& a) {
        for (int64_t k = 0; a.start && k < a.tiles; ++k)
            if (!(a.start[k] >= 0 && a.start[k] < a.stop[k] && a.stop[k] <= a.n))
                throw std::invalid_argument("tile bounds must be non-empty ranges inside the axis");
        for (int64_t i = 0; i < a.n; ++i)
            if (!(a.lower[i] >= 0 && a.lower[i] < a.tiles && std::isfinite(a.w0[i]) && std::isfinite(a.w1[i])))
                throw std::invalid_argument("pixel tiles must be valid and weights finite");
    }

    In<int64_t, 1> shape_, tiles_;
    std::optional<In<int64_t, 1>> bounds_;
    In<int32_t, 1> lower_;
    In<double, 1> w0_, w1_;
    double denominator_;
    int64_t pixels_ = 1, ntiles_ = 1;
    histeq::Axes axes_;
};
