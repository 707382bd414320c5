// What every binding shares: the array types it accepts and the checks of its
// arguments.  The bindings are the only code that knows about Python.  Every
// function takes C-contiguous CPU arrays of exactly the listed dtypes (no
// implicit conversion), writes into arrays allocated by the caller, and
// releases the GIL while it works.  They are split by operation into several
// files, so that a build compiles them in parallel.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>

#include "histeq/tables/equalize.hpp"

namespace nb = nanobind;
using namespace nb::literals;

template <class T, int N = 2>
using In = nb::ndarray<const T, nb::ndim<N>, nb::c_contig, nb::device::cpu>;
template <class T, int N = 2>
using Out = nb::ndarray<T, nb::ndim<N>, nb::c_contig, nb::device::cpu>;
using Mask = std::optional<In<bool>>;

// Calls f(type_tag) for each dtype of the grey kernels, in the order their overloads are registered.
template <class F>
void for_grey_dtypes(F&& f) {
    f(uint8_t{});
    f(int8_t{});
    f(uint16_t{});
    f(int16_t{});
    f(uint32_t{});
    f(int32_t{});
    f(float{});
    f(double{});
}

template <class A, class B>
void require_same_shape(const A& a, const B& b, const char* what) {
    bool same = a.ndim() == b.ndim();
    for (size_t d = 0; same && d < a.ndim(); ++d) same = a.shape(d) == b.shape(d);
    if (!same) throw std::invalid_argument(std::string(what) + " must have the shape of the image");
}

inline void require_threads(int threads) {
    if (threads < 1) throw std::invalid_argument("threads must be >= 1");
}

// The seam's limits, exported as histeq._core.MAX_NBINS, MAX_AXES and EXACT_BITS (module.cpp) for Python to read.
// A histogram of one image stays small: at most 2**24 bins (and clip groups).
inline constexpr int64_t kMaxBins = int64_t{1} << 24;
// CLAHE interpolates between 2**axes tile corners, counted in an int.
inline constexpr size_t kMaxAxes = 16;
// Integer CLAHE interpolates in double: exact while a tile plan's weights times the output levels fit in this
// many bits (Python rounds the weights to fit; TilePlan refuses a denominator beyond 2**(kExactBits + 1)).
inline constexpr int kExactBits = 50;

// The rules of a Spec that hold whatever the image's dtype, checked when
// Python builds one (core.Spec): no Spec object breaks them.
inline histeq::Spec checked_spec(int64_t nbins, bool data_range, double lo, double hi, double nominal_lo,
                                 double nominal_hi, double out_lo, double out_hi) {
    if (nbins < 1 || nbins > kMaxBins) throw std::invalid_argument("nbins must be in [1, 2**24]");
    auto finite_pair = [](double a, double b) { return std::isfinite(a) && std::isfinite(b) && std::isfinite(b - a); };
    if (!data_range && !(finite_pair(lo, hi) && lo <= hi))
        throw std::invalid_argument("the bin range must be finite with lo <= hi");
    if (!(finite_pair(nominal_lo, nominal_hi) && nominal_hi > nominal_lo))
        throw std::invalid_argument("the nominal range must be finite with lo < hi");
    if (!(finite_pair(out_lo, out_hi) && out_lo <= out_hi))
        throw std::invalid_argument("the output range must be finite with lo <= hi");
    return histeq::Spec{nbins, data_range, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi};
}

// The rules that depend on the image's dtype, checked by every binding that
// takes a Spec: every range the kernels will convert to T (or divide by), so
// that no argument can make a kernel convert out of range or index out of bounds.
template <class T>
void require_spec_fits(const histeq::Spec& spec) {
    if constexpr (histeq::is_float_v<T>) {
        if (!spec.data_range && !(spec.lo < spec.hi)) throw std::invalid_argument("float bins need lo < hi");
    } else {
        const double tmin = static_cast<double>(std::numeric_limits<T>::min());
        const double tmax = static_cast<double>(std::numeric_limits<T>::max());
        auto level = [&](double v) { return v >= tmin && v <= tmax && v == std::floor(v); };
        const bool bins_ok = spec.data_range || (level(spec.lo) && level(spec.hi));
        if (!(bins_ok && level(spec.nominal_lo) && level(spec.nominal_hi) && level(spec.out_lo) && level(spec.out_hi)))
            throw std::invalid_argument("integer images need integral ranges inside the dtype's range");
    }
}

// A clip limit (negative: none) and its number of bin groups (0: all bins).
inline void require_clip(double clip_limit, int64_t clip_groups) {
    if (std::isnan(clip_limit)) throw std::invalid_argument("clip_limit must not be NaN");
    if (clip_groups < 0 || clip_groups > kMaxBins)
        throw std::invalid_argument("clip_groups must be between 0 and 2**24");
}

// Each file's registrations (module.cpp calls them in order; types first).
void register_types(nb::module_& m);
void register_equalize(nb::module_& m);
void register_color(nb::module_& m);
void register_clahe(nb::module_& m);
void register_clahe_wide(nb::module_& m);
void register_clahe_chunked(nb::module_& m);
void register_matching(nb::module_& m);
