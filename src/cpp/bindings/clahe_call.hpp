// histeq's own CLAHE of whole images, bound for every dtype.  Two files include it (8/16-bit and wider dtypes), so
// that a build compiles them in parallel.
#pragma once

#include "common.hpp"
#include "histeq/clahe/clahe.hpp"
#include "tile_plan.hpp"

namespace clahe_binding {

template <class T>
void clahe(In<T> image, Mask mask, Out<T> out, const TilePlan& plan, const histeq::Spec& spec, double clip_limit,
           int64_t clip_groups, double table_budget, int threads) {
    require_same_shape(image, out, "out");
    if (mask) require_same_shape(image, *mask, "mask");
    require_threads(threads);
    require_spec_fits<T>(spec);
    if (!plan.has_bounds()) throw std::invalid_argument("CLAHE of whole images needs a plan with tile bounds");
    plan.require_pixels(image.shape(1));
    require_clip(clip_limit, clip_groups);
    if (!(table_budget > 0)) throw std::invalid_argument("table_budget must be positive");
    if (static_cast<double>(plan.ntiles()) * static_cast<double>(spec.nbins + 1) > 0x1p31)
        throw std::invalid_argument("tiles x bins is too large (over 2**31 table entries)");
    const bool* m = mask ? mask->data() : nullptr;
    nb::gil_scoped_release release;
    histeq::clahe_batch(image.data(), m, out.data(), image.shape(0), image.shape(1), plan.axes(), spec, clip_limit,
                        clip_groups, plan.denominator(), table_budget, threads);
}

template <class T>
void register_dtype(nb::module_& m) {
    m.def("clahe", &clahe<T>, "image"_a.noconvert(), "mask"_a.noconvert().none(), "out"_a.noconvert(), "plan"_a,
          "spec"_a, "clip_limit"_a, "clip_groups"_a, "table_budget"_a, "threads"_a);
}

}  // namespace clahe_binding
