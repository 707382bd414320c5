// The seam's types: a call's binning and ranges (core.Spec) and CLAHE's tile plan (core.TilePlan), each checked
// once when Python makes it.
#include <nanobind/stl/vector.h>

#include "common.hpp"
#include "tile_plan.hpp"

void register_types(nb::module_& m) {
    nb::class_<histeq::Spec>(m, "Spec", "One call's bins and ranges (histeq._spec.Spec makes it).")
        .def(
            "__init__",
            [](histeq::Spec* self, int64_t nbins, bool data_range, double lo, double hi, double nominal_lo,
               double nominal_hi, double out_lo, double out_hi) {
                new (self)
                    histeq::Spec(checked_spec(nbins, data_range, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi));
            },
            "nbins"_a, "data_range"_a, "lo"_a, "hi"_a, "nominal_lo"_a, "nominal_hi"_a, "out_lo"_a, "out_hi"_a)
        .def_ro("nbins", &histeq::Spec::nbins)
        .def_ro("data_range", &histeq::Spec::data_range)
        .def_ro("lo", &histeq::Spec::lo)
        .def_ro("hi", &histeq::Spec::hi)
        .def_ro("nominal_lo", &histeq::Spec::nominal_lo)
        .def_ro("nominal_hi", &histeq::Spec::nominal_hi)
        .def_ro("out_lo", &histeq::Spec::out_lo)
        .def_ro("out_hi", &histeq::Spec::out_hi);
    nb::class_<TilePlan>(
        m, "TilePlan", "CLAHE's tile plan of one image shape, or of one chunk without bounds (histeq.clahe makes it).")
        .def(nb::init<In<int64_t, 1>, In<int64_t, 1>, std::optional<In<int64_t, 1>>, In<int32_t, 1>, In<double, 1>,
                      In<double, 1>, double>(),
             "shape"_a.noconvert(), "tiles"_a.noconvert(), "bounds"_a.noconvert().none(), "lower"_a.noconvert(),
             "w0"_a.noconvert(), "w1"_a.noconvert(), "denominator"_a)
        .def_prop_ro("pixels", &TilePlan::pixels)
        .def_prop_ro("ntiles", &TilePlan::ntiles)
        .def_prop_ro("denominator", &TilePlan::denominator);
}
