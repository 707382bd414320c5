// histeq's own CLAHE of whole images, bound for every dtype: the checks of the tile plan and the call.  Two
// files include it (8/16-bit and wider dtypes), so that a build compiles them in parallel.
#pragma once

#include <vector>

#include "common.hpp"
#include "histeq/clahe.hpp"

namespace clahe_binding {

// The tile plan comes from Python (histeq.clahe); it is checked here so that no
// plan can make the kernel read or write out of bounds.
inline std::vector<histeq::AxisPlan> axis_plans(const In<int64_t, 1>& shape, const In<int64_t, 1>& tiles,
                                         const In<int64_t, 1>& bounds, const In<int32_t, 1>& lower,
                                         const In<double, 1>& w0, const In<double, 1>& w1, size_t pixels) {
    const size_t ndim = shape.shape(0);
    if (ndim < 1 || tiles.shape(0) != ndim) throw std::invalid_argument("shape and tiles need one entry per axis");
    if (ndim > kMaxAxes) throw std::invalid_argument("at most 16 spatial axes (2**axes tile corners per pixel)");
    size_t product = 1, bound_count = 0, pixel_count = 0;
    for (size_t d = 0; d < ndim; ++d) {
        if (shape(d) < 1 || tiles(d) < 1 || tiles(d) > shape(d))
            throw std::invalid_argument("every axis needs 1 <= tiles <= size");
        product *= static_cast<size_t>(shape(d));
        bound_count += 2 * static_cast<size_t>(tiles(d));
        pixel_count += static_cast<size_t>(shape(d));
    }
    if (product != pixels) throw std::invalid_argument("shape must multiply to the pixels of one image");
    if (bounds.shape(0) != bound_count || lower.shape(0) != pixel_count || w0.shape(0) != pixel_count ||
        w1.shape(0) != pixel_count)
        throw std::invalid_argument("the tile plan's arrays have the wrong lengths");
    std::vector<histeq::AxisPlan> plans;
    size_t b = 0, p = 0;
    for (size_t d = 0; d < ndim; ++d) {
        const int64_t n = shape(d), t = tiles(d);
        histeq::AxisPlan a{n, t, bounds.data() + b, bounds.data() + b + t, lower.data() + p, w0.data() + p,
                           w1.data() + p};
        for (int64_t k = 0; k < t; ++k)
            if (!(a.start[k] >= 0 && a.start[k] < a.stop[k] && a.stop[k] <= n))
                throw std::invalid_argument("tile bounds must be non-empty ranges inside the axis");
        for (int64_t i = 0; i < n; ++i)
            if (!(a.lower[i] >= 0 && a.lower[i] < t && std::isfinite(a.w0[i]) && std::isfinite(a.w1[i])))
                throw std::invalid_argument("pixel tiles must be valid and weights finite");
        plans.push_back(a);
        b += 2 * static_cast<size_t>(t);
        p += static_cast<size_t>(n);
    }
    return plans;
}

template <class T>
void clahe(In<T> image, Mask mask, Out<T> out, In<int64_t, 1> shape, In<int64_t, 1> tiles, In<int64_t, 1> bounds,
           In<int32_t, 1> lower, In<double, 1> w0, In<double, 1> w1, double clip_limit, int64_t clip_groups,
           double denominator, double table_budget, int64_t nbins, bool data_range, double lo, double hi,
           double nominal_lo, double nominal_hi, double out_lo, double out_hi, int threads) {
    require_same_shape(image, out, "out");
    if (mask) require_same_shape(image, *mask, "mask");
    require_threads(threads);
    const histeq::Spec spec = make_spec<T>(nbins, data_range, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi);
    const std::vector<histeq::AxisPlan> plans = axis_plans(shape, tiles, bounds, lower, w0, w1, image.shape(1));
    require_clip(clip_limit, clip_groups);
    if (!(denominator >= 1 && denominator < 0x1p51)) throw std::invalid_argument("denominator out of range");
    if (!(table_budget > 0)) throw std::invalid_argument("table_budget must be positive");
    double ntiles = 1;
    for (const auto& a : plans) ntiles *= static_cast<double>(a.tiles);
    if (ntiles * static_cast<double>(nbins + 1) > 0x1p31)
        throw std::invalid_argument("tiles x bins is too large (over 2**31 table entries)");
    const bool* m = mask ? mask->data() : nullptr;
    nb::gil_scoped_release release;
    histeq::clahe_batch(image.data(), m, out.data(), image.shape(0), image.shape(1), plans, spec, clip_limit,
                        clip_groups, denominator, table_budget, threads);
}

template <class T>
void register_dtype(nb::module_& m) {
    m.def("clahe", &clahe<T>, "image"_a.noconvert(), "mask"_a.noconvert().none(), "out"_a.noconvert(),
          "shape"_a.noconvert(), "tiles"_a.noconvert(), "bounds"_a.noconvert(), "lower"_a.noconvert(),
          "w0"_a.noconvert(), "w1"_a.noconvert(), "clip_limit"_a, "clip_groups"_a, "denominator"_a, "table_budget"_a,
          "nbins"_a, "data_range"_a, "lo"_a, "hi"_a, "nominal_lo"_a, "nominal_hi"_a, "out_lo"_a, "out_hi"_a,
          "threads"_a);
}

}  // namespace clahe_binding
