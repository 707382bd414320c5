// The only file that knows about Python.  Every function takes C-contiguous
// CPU arrays of exactly the listed dtypes (no implicit conversion), writes into
// arrays allocated by the caller, and releases the GIL while it works.
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

#include "histeq/clahe.hpp"
#include "histeq/clahe_opencv.hpp"
#include "histeq/color.hpp"
#include "histeq/equalize.hpp"
#include "histeq/exact.hpp"
#include "histeq/peer_equalize.hpp"
#include "histeq/pieces.hpp"

namespace nb = nanobind;
using namespace nb::literals;

template <class T, int N = 2>
using In = nb::ndarray<const T, nb::ndim<N>, nb::c_contig, nb::device::cpu>;
template <class T, int N = 2>
using Out = nb::ndarray<T, nb::ndim<N>, nb::c_contig, nb::device::cpu>;
using Mask = std::optional<In<bool>>;

namespace {

template <class A, class B>
void require_same_shape(const A& a, const B& b, const char* what) {
    bool same = a.ndim() == b.ndim();
    for (size_t d = 0; same && d < a.ndim(); ++d) same = a.shape(d) == b.shape(d);
    if (!same) throw std::invalid_argument(std::string(what) + " must have the shape of the image");
}

void require_threads(int threads) {
    if (threads < 1) throw std::invalid_argument("threads must be >= 1");
}

// Every range the kernels will convert to T (or divide by) is checked here, so
// that no argument can make a kernel convert out of range or index out of bounds.
template <class T>
histeq::Spec make_spec(int64_t nbins, bool data_range, double lo, double hi, double nominal_lo, double nominal_hi,
                       double out_lo, double out_hi) {
    if (nbins < 1 || nbins > (int64_t{1} << 24)) throw std::invalid_argument("nbins must be in [1, 2**24]");
    auto finite_pair = [](double a, double b) { return std::isfinite(a) && std::isfinite(b) && std::isfinite(b - a); };
    if (!data_range && !(finite_pair(lo, hi) && lo <= hi))
        throw std::invalid_argument("the bin range must be finite with lo <= hi");
    if (!(finite_pair(nominal_lo, nominal_hi) && nominal_hi > nominal_lo))
        throw std::invalid_argument("the nominal range must be finite with lo < hi");
    if (!(finite_pair(out_lo, out_hi) && out_lo <= out_hi))
        throw std::invalid_argument("the output range must be finite with lo <= hi");
    if constexpr (histeq::is_float_v<T>) {
        if (!data_range && !(lo < hi)) throw std::invalid_argument("float bins need lo < hi");
    } else {
        const double tmin = static_cast<double>(std::numeric_limits<T>::min());
        const double tmax = static_cast<double>(std::numeric_limits<T>::max());
        auto level = [&](double v) { return v >= tmin && v <= tmax && v == std::floor(v); };
        const bool bins_ok = data_range || (level(lo) && level(hi));
        if (!(bins_ok && level(nominal_lo) && level(nominal_hi) && level(out_lo) && level(out_hi)))
            throw std::invalid_argument("integer images need integral ranges inside the dtype's range");
    }
    return histeq::Spec{nbins, data_range, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi};
}

template <class T>
void equalize(In<T> image, Mask mask, Out<T> out, int64_t nbins, bool data_range, double lo, double hi,
              double nominal_lo, double nominal_hi, double out_lo, double out_hi, int threads) {
    require_same_shape(image, out, "out");
    if (mask) require_same_shape(image, *mask, "mask");
    require_threads(threads);
    const histeq::Spec spec = make_spec<T>(nbins, data_range, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi);
    const bool* m = mask ? mask->data() : nullptr;
    nb::gil_scoped_release release;
    histeq::equalize_batch(image.data(), m, out.data(), image.shape(0), image.shape(1), spec, threads);
}

// Whether `a` is a C-contiguous array of T, aligned for it, with at least one
// dimension and not empty: an image the full path would take as it is.
template <class T, class A>
bool plain_array_of(const A& a) {
    if (a.dtype() != nb::dtype<T>() || a.ndim() == 0 || a.size() == 0 ||
        reinterpret_cast<uintptr_t>(a.data()) % alignof(T) != 0)
        return false;
    int64_t expected = 1;
    for (size_t d = a.ndim(); d-- > 0;) {
        if (a.shape(d) != 1 && a.stride(d) != expected) return false;
        expected *= static_cast<int64_t>(a.shape(d));
    }
    return true;
}

template <class T>
bool equalize_levels_whole(const nb::ndarray<nb::ro, nb::device::cpu>& image, nb::ndarray<nb::device::cpu>& out,
                           int threads) {
    if (!plain_array_of<T>(image) || !plain_array_of<T>(out)) return false;
    require_same_shape(image, out, "out");
    const double top = static_cast<double>(std::numeric_limits<T>::max());
    const histeq::Spec spec{int64_t{1} << (8 * sizeof(T)), false, 0, top, 0, top, 0, top};
    const auto* in = static_cast<const T*>(image.data());
    auto* result = static_cast<T*>(out.data());
    const auto pixels = static_cast<int64_t>(image.size());
    nb::gil_scoped_release release;
    histeq::equalize_batch(in, nullptr, result, 1, pixels, spec, threads);
    return true;
}

// The lean path of equalize's commonest call: one uint8 or uint16 image (of
// any number of dimensions, C-contiguous, aligned, native byte order) with
// every argument at its default.  It equals the typed `equalize` with the
// dtype's default Spec on the image flattened to (1, size).  Anything else
// returns false untouched, and the caller takes the full path.
bool equalize_default(nb::ndarray<nb::ro, nb::device::cpu> image, nb::ndarray<nb::device::cpu> out, int threads) {
    require_threads(threads);
    return equalize_levels_whole<uint8_t>(image, out, threads) || equalize_levels_whole<uint16_t>(image, out, threads);
}

template <class T>
void histogram(In<T> image, Mask mask, Out<int64_t> counts, Out<double> ranges, int64_t nbins, bool data_range,
               double lo, double hi, int threads) {
    if (mask) require_same_shape(image, *mask, "mask");
    require_threads(threads);
    const histeq::Spec spec = make_spec<T>(nbins, data_range, lo, hi, 0, 1, 0, 1);
    if (counts.shape(0) != image.shape(0) || counts.shape(1) != static_cast<size_t>(nbins))
        throw std::invalid_argument("counts must have shape (batch, nbins)");
    if (ranges.shape(0) != image.shape(0) || ranges.shape(1) != 3)
        throw std::invalid_argument("ranges must have shape (batch, 3)");
    const bool* m = mask ? mask->data() : nullptr;
    nb::gil_scoped_release release;
    histeq::histogram_batch(image.data(), m, image.shape(0), image.shape(1), spec, threads, counts.data(),
                            ranges.data());
}

template <class T, class U>
void apply_lut(In<T> image, In<U> lut, Out<U> out, int64_t lo, int threads) {
    require_same_shape(image, out, "out");
    require_threads(threads);
    if (lut.shape(0) != image.shape(0)) throw std::invalid_argument("lut must have one row per image");
    const int64_t lut_size = static_cast<int64_t>(lut.shape(1));
    if (lo > static_cast<int64_t>(std::numeric_limits<T>::min()) ||
        static_cast<int64_t>(std::numeric_limits<T>::max()) - lo >= lut_size)
        throw std::invalid_argument("lut must have an entry for every level of the dtype");
    nb::gil_scoped_release release;
    histeq::apply_lut_batch(image.data(), lut.data(), out.data(), image.shape(0), image.shape(1), lut_size, lo,
                            threads);
}


template <class T>
int rgb_channels(const In<T>& rgb) {
    const size_t c = rgb.shape(1);
    if (c < 3 || c > 4) throw std::invalid_argument("colour modes need 3 (RGB) or 4 (RGBA) channels");
    return static_cast<int>(c);
}

template <class A>
void require_pixels(const A& a, size_t n, const char* what) {
    if (a.shape(0) != n) throw std::invalid_argument(std::string(what) + " must have one entry per pixel");
}

template <class T>
void luma(In<T> rgb, Out<T, 1> y, int threads) {
    const int c = rgb_channels(rgb);
    require_pixels(y, rgb.shape(0), "y");
    require_threads(threads);
    nb::gil_scoped_release release;
    histeq::luma(rgb.data(), y.data(), rgb.shape(0), c, threads);
}

template <class T>
void luma_apply(In<T> rgb, In<T, 1> y, In<T, 1> y_new, Out<T> out, double lo, double hi, int threads) {
    const int c = rgb_channels(rgb);
    require_same_shape(rgb, out, "out");
    require_pixels(y, rgb.shape(0), "y");
    require_pixels(y_new, rgb.shape(0), "y_new");
    require_threads(threads);
    nb::gil_scoped_release release;
    histeq::luma_apply(rgb.data(), y.data(), y_new.data(), out.data(), rgb.shape(0), c, lo, hi, threads);
}

template <class T>
void value(In<T> rgb, Out<T, 1> v, int threads) {
    const int c = rgb_channels(rgb);
    require_pixels(v, rgb.shape(0), "v");
    require_threads(threads);
    nb::gil_scoped_release release;
    histeq::value(rgb.data(), v.data(), rgb.shape(0), c, threads);
}

template <class T>
void value_apply(In<T> rgb, In<T, 1> v, In<T, 1> v_new, Out<T> out, double lo, double hi, int threads) {
    const int c = rgb_channels(rgb);
    require_same_shape(rgb, out, "out");
    require_pixels(v, rgb.shape(0), "v");
    require_pixels(v_new, rgb.shape(0), "v_new");
    require_threads(threads);
    nb::gil_scoped_release release;
    histeq::value_apply(rgb.data(), v.data(), v_new.data(), out.data(), rgb.shape(0), c, lo, hi, threads);
}

template <class T>
void lightness(In<T> rgb, Out<float, 1> l, double scale, int threads) {
    const int c = rgb_channels(rgb);
    require_pixels(l, rgb.shape(0), "l");
    require_threads(threads);
    if (!(scale > 0)) throw std::invalid_argument("scale must be > 0");
    nb::gil_scoped_release release;
    histeq::lightness(rgb.data(), l.data(), rgb.shape(0), c, scale, threads);
}

template <class T>
void lightness_apply(In<T> rgb, In<float, 1> l_new, Out<T> out, double scale, double lo, double hi, int threads) {
    const int c = rgb_channels(rgb);
    require_same_shape(rgb, out, "out");
    require_pixels(l_new, rgb.shape(0), "l_new");
    require_threads(threads);
    if (!(scale > 0)) throw std::invalid_argument("scale must be > 0");
    nb::gil_scoped_release release;
    histeq::lightness_apply(rgb.data(), l_new.data(), out.data(), rgb.shape(0), c, scale, lo, hi, threads);
}

template <class T>
void equalize_luma(In<T, 3> rgb, Mask mask, Out<T, 3> out, int64_t nbins, bool data_range, double lo, double hi,
                   double nominal_lo, double nominal_hi, double out_lo, double out_hi, int threads) {
    require_same_shape(rgb, out, "out");
    if (rgb.shape(2) < 3 || rgb.shape(2) > 4)
        throw std::invalid_argument("colour modes need 3 (RGB) or 4 (RGBA) channels");
    if (mask && (mask->shape(0) != rgb.shape(0) || mask->shape(1) != rgb.shape(1)))
        throw std::invalid_argument("mask must have shape (batch, pixels)");
    require_threads(threads);
    const histeq::Spec spec = make_spec<T>(nbins, data_range, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi);
    if (data_range) throw std::invalid_argument("luma equalization bins over a fixed range");
    const bool* m = mask ? mask->data() : nullptr;
    nb::gil_scoped_release release;
    histeq::equalize_luma_batch(rgb.data(), m, out.data(), rgb.shape(0), rgb.shape(1), static_cast<int>(rgb.shape(2)),
                                spec, threads);
}

// CLAHE interpolates between 2**axes tile corners, counted in an int.
constexpr size_t kMaxAxes = 16;

// A clip limit (negative: none) and its number of bin groups (0: all bins).
void require_clip(double clip_limit, int64_t clip_groups) {
    if (std::isnan(clip_limit)) throw std::invalid_argument("clip_limit must not be NaN");
    if (clip_groups < 0 || clip_groups > (int64_t{1} << 24))
        throw std::invalid_argument("clip_groups must be between 0 and 2**24");
}

// The tile plan comes from Python (histeq.clahe); it is checked here so that no
// plan can make the kernel read or write out of bounds.
std::vector<histeq::AxisPlan> axis_plans(const In<int64_t, 1>& shape, const In<int64_t, 1>& tiles,
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
void exact_order(In<T> padded, Out<int64_t> order, Out<int64_t, 1> ties, In<int64_t, 1> shape, int64_t pad,
                 In<int64_t, 1> offsets, In<int64_t, 1> shell_start, int threads) {
    require_threads(threads);
    histeq::ShellPlan plan;
    const size_t ndim = shape.shape(0);
    if (ndim < 1) throw std::invalid_argument("shape must have at least one axis");
    if (pad < 0 || pad > 64) throw std::invalid_argument("pad must be in [0, 64]");
    double pixels = 1, padded_pixels = 1;
    for (size_t d = 0; d < ndim; ++d) {
        if (shape(d) < 1) throw std::invalid_argument("shape must be positive");
        plan.shape.push_back(shape(d));
        pixels *= static_cast<double>(shape(d));
        padded_pixels *= static_cast<double>(shape(d) + 2 * pad);
    }
    if (pixels >= 0x1p32) throw std::invalid_argument("exact ordering handles images below 2**32 pixels");
    if (order.shape(0) != padded.shape(0) || static_cast<double>(order.shape(1)) != pixels)
        throw std::invalid_argument("order must have shape (batch, pixels)");
    if (ties.shape(0) != padded.shape(0)) throw std::invalid_argument("ties must have one entry per image");
    if (static_cast<double>(padded.shape(1)) != padded_pixels)
        throw std::invalid_argument("padded must hold each image padded by pad on every axis");
    plan.pad = pad;
    plan.padded_stride.assign(ndim, 1);
    for (int d = static_cast<int>(ndim) - 2; d >= 0; --d)
        plan.padded_stride[d] = plan.padded_stride[d + 1] * (plan.shape[d + 1] + 2 * pad);
    // Every offset must stay inside the padding: |offset along each axis| <= pad.
    int64_t reach = 0;
    for (size_t d = 0; d < ndim; ++d) reach += pad * plan.padded_stride[d];
    for (size_t j = 0; j < offsets.shape(0); ++j) {
        if (offsets(j) < -reach || offsets(j) > reach) throw std::invalid_argument("offset reaches past the padding");
        plan.offsets.push_back(offsets(j));
    }
    if (shell_start.shape(0) < 1 || shell_start(0) != 0 ||
        shell_start(shell_start.shape(0) - 1) != static_cast<int64_t>(offsets.shape(0)))
        throw std::invalid_argument("shell_start must run from 0 to the number of offsets");
    for (size_t s = 0; s < shell_start.shape(0); ++s) {
        if (s && shell_start(s) < shell_start(s - 1)) throw std::invalid_argument("shell_start must not decrease");
        plan.shell_start.push_back(shell_start(s));
    }
    nb::gil_scoped_release release;
    histeq::exact_order_batch(padded.data(), padded.shape(0), padded.shape(1), plan, threads, order.data(),
                              ties.data());
}

template <class T>
void map_pieces(In<T> image, Out<T> out, In<double> ranges, int64_t nbins, In<int64_t, 1> offsets,
                In<double, 1> start, In<double, 1> level, In<double, 1> slope, int threads) {
    require_same_shape(image, out, "out");
    require_threads(threads);
    const size_t batch = image.shape(0);
    if (ranges.shape(0) != batch || ranges.shape(1) != 2)
        throw std::invalid_argument("ranges must have shape (batch, 2)");
    if (nbins < 1 || nbins > (int64_t{1} << 24)) throw std::invalid_argument("nbins must be between 1 and 2**24");
    const size_t count = start.shape(0);
    if (level.shape(0) != count || slope.shape(0) != count)
        throw std::invalid_argument("start, level and slope need one entry per piece");
    if (offsets.shape(0) != batch + 1 || offsets(0) != 0 || offsets(batch) != static_cast<int64_t>(count))
        throw std::invalid_argument("offsets must run from 0 to the number of pieces, one more than the batch");
    for (size_t j = 0; j < count; ++j) {
        if (!(std::isfinite(start(j)) && std::isfinite(level(j)) && std::isfinite(slope(j))))
            throw std::invalid_argument("pieces must be finite");
    }
    std::vector<histeq::Pieces> pieces;
    for (size_t b = 0; b < batch; ++b) {
        const double lo = ranges(b, 0), hi = ranges(b, 1);
        if (!(std::isfinite(lo) && std::isfinite(hi) && std::isfinite(hi - lo) && lo < hi))
            throw std::invalid_argument("each range must be finite with lo < hi");
        const int64_t p0 = offsets(b), p1 = offsets(b + 1);
        if (p0 > p1) throw std::invalid_argument("offsets must not decrease");
        for (int64_t p = p0 + 1; p < p1; ++p)
            if (!(start(p - 1) < start(p))) throw std::invalid_argument("an image's pieces must start in order");
        pieces.push_back(histeq::Pieces{start.data() + p0, level.data() + p0, slope.data() + p0, p1 - p0});
    }
    // map_pieces_batch refuses pieces that leave a bin edge unstarted, before it writes a pixel.
    nb::gil_scoped_release release;
    histeq::map_pieces_batch(image.data(), out.data(), static_cast<int64_t>(batch), image.shape(1), ranges.data(),
                             nbins, pieces, threads);
}

// The peers' global equalization (compat='opencv' or 'pillow') of (batch, pixels, channels) uint8 images; the
// mask, when given, is (batch, pixels).
void equalize_peer(In<uint8_t, 3> image, std::optional<In<bool>> mask, Out<uint8_t, 3> out, const std::string& rule,
                   int threads) {
    require_same_shape(image, out, "out");
    require_threads(threads);
    if (mask && (mask->shape(0) != image.shape(0) || mask->shape(1) != image.shape(1)))
        throw std::invalid_argument("mask must have shape (batch, pixels)");
    if (image.shape(2) < 1 || image.shape(2) > 1024) throw std::invalid_argument("channels must be in [1, 1024]");
    if (rule != "opencv" && rule != "pillow") throw std::invalid_argument("rule must be 'opencv' or 'pillow'");
    const histeq::PeerRule peer = rule == "opencv" ? histeq::PeerRule::opencv : histeq::PeerRule::pillow;
    const bool* m = mask ? mask->data() : nullptr;
    nb::gil_scoped_release release;
    histeq::equalize_peer_batch(image.data(), m, out.data(), static_cast<int64_t>(image.shape(0)),
                                static_cast<int64_t>(image.shape(1)), static_cast<int>(image.shape(2)), peer, threads);
}

// OpenCV's CLAHE (compat='opencv'): tile size and count limit from Python.
template <class T>
void clahe_opencv(In<T> image, Out<T> out, int64_t height, int64_t width, int64_t tiles_y, int64_t tiles_x,
                  int64_t tile_h, int64_t tile_w, int64_t limit, int threads) {
    require_same_shape(image, out, "out");
    require_threads(threads);
    if (height < 1 || width < 1 || height * width != static_cast<int64_t>(image.shape(1)))
        throw std::invalid_argument("height x width must be the pixels of one image");
    if (tiles_y < 1 || tiles_x < 1 || tiles_y > height || tiles_x > width)
        throw std::invalid_argument("every axis needs 1 <= tiles <= size");
    // OpenCV's padding adds up to a tile per axis (mirrored indices cover any amount).
    if (tile_h < 1 || tile_w < 1 || tile_h * tiles_y < height || tile_w * tiles_x < width || tile_h > height + 1 ||
        tile_w > width + 1)
        throw std::invalid_argument("the tiles must cover the image, padded by at most a tile per axis");
    if (limit < 0) throw std::invalid_argument("the clip count must not be negative");
    // The blend addresses the tables with 32-bit offsets.
    if (tiles_y * tiles_x * (sizeof(T) == 1 ? 256 : 65536) >= (int64_t{1} << 31))
        throw std::invalid_argument("too many tiles: their tables would exceed 2^31 entries");
    nb::gil_scoped_release release;
    histeq::clahe_opencv_batch(image.data(), out.data(), static_cast<int64_t>(image.shape(0)), height, width,
                               tiles_y, tiles_x, tile_h, tile_w, limit, threads);
}

template <class T>
void def_clahe_opencv(nb::module_& m) {
    m.def("clahe_opencv", &clahe_opencv<T>, "image"_a.noconvert(), "out"_a.noconvert(), "height"_a, "width"_a,
          "tiles_y"_a, "tiles_x"_a, "tile_h"_a, "tile_w"_a, "limit"_a, "threads"_a);
}

// Tile mappings from summed tile histograms (chunked CLAHE).  Integers: a
// table per tile; floats (one binding: their mappings are computed in double
// whatever the image's precision): levels and slopes per tile.
template <class T>
void clahe_maps(In<int64_t> hists, Out<uint8_t, 1> identity, Out<T> lut, Out<double> level, Out<double> slope,
                double clip_limit, int64_t clip_groups, int64_t nbins, double lo, double hi, double nominal_lo,
                double nominal_hi, double out_lo, double out_hi) {
    const histeq::Spec spec = make_spec<T>(nbins, false, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi);
    const size_t ntiles = hists.shape(0);
    if (hists.shape(1) != static_cast<size_t>(nbins)) throw std::invalid_argument("hists must be (tiles, nbins)");
    if (identity.shape(0) != ntiles) throw std::invalid_argument("identity needs one entry per tile");
    require_clip(clip_limit, clip_groups);
    for (size_t j = 0; j < hists.size(); ++j)
        if (hists.data()[j] < 0) throw std::invalid_argument("histogram counts must not be negative");
    if constexpr (histeq::is_float_v<T>) {
        if (level.shape(0) != ntiles || level.shape(1) != static_cast<size_t>(nbins) + 1 ||
            slope.shape(0) != ntiles || slope.shape(1) != static_cast<size_t>(nbins) + 1)
            throw std::invalid_argument("level and slope must be (tiles, nbins + 1)");
    } else {
        if (lut.shape(0) != ntiles || lut.shape(1) != static_cast<size_t>(nbins))
            throw std::invalid_argument("lut must be (tiles, nbins)");
    }
    nb::gil_scoped_release release;
    histeq::clahe_maps_from<T>(hists.data(), static_cast<int64_t>(ntiles), spec, clip_limit, clip_groups,
                               reinterpret_cast<char*>(identity.data()),
                               histeq::is_float_v<T> ? nullptr : lut.data(),
                               histeq::is_float_v<T> ? level.data() : nullptr,
                               histeq::is_float_v<T> ? slope.data() : nullptr);
}

template <class T>
void clahe_chunk(In<T> image, Out<T> out, In<int64_t, 1> shape, In<int64_t, 1> tiles, In<int32_t, 1> lower,
                 In<double, 1> w0, In<double, 1> w1, In<uint8_t, 1> identity, std::optional<In<T>> lut,
                 std::optional<In<double>> level, std::optional<In<double>> slope, double denominator, int64_t nbins,
                 double lo, double hi, double nominal_lo, double nominal_hi, double out_lo, double out_hi,
                 int threads) {
    require_same_shape(image, out, "out");
    require_threads(threads);
    if (image.shape(0) != 1) throw std::invalid_argument("one chunk at a time");
    const histeq::Spec spec = make_spec<T>(nbins, false, lo, hi, nominal_lo, nominal_hi, out_lo, out_hi);
    const size_t ndim = shape.shape(0);
    if (ndim < 1 || tiles.shape(0) != ndim) throw std::invalid_argument("shape and tiles need one entry per axis");
    if (ndim > kMaxAxes) throw std::invalid_argument("at most 16 spatial axes (2**axes tile corners per pixel)");
    size_t pixels = 1, along = 0, ntiles = 1;
    for (size_t d = 0; d < ndim; ++d) {
        if (shape(d) < 1 || tiles(d) < 1) throw std::invalid_argument("every axis needs a size and tiles >= 1");
        pixels *= static_cast<size_t>(shape(d));
        along += static_cast<size_t>(shape(d));
        ntiles *= static_cast<size_t>(tiles(d));
    }
    if (pixels != image.shape(1)) throw std::invalid_argument("shape must multiply to the chunk's pixels");
    if (lower.shape(0) != along || w0.shape(0) != along || w1.shape(0) != along)
        throw std::invalid_argument("lower and weights need one entry per pixel along each axis");
    if (identity.shape(0) != ntiles) throw std::invalid_argument("identity needs one entry per tile");
    if (!(denominator >= 1 && denominator < 0x1p51)) throw std::invalid_argument("denominator out of range");
    std::vector<histeq::AxisPlan> plans;
    size_t p = 0;
    for (size_t d = 0; d < ndim; ++d) {
        const int64_t n = shape(d), t = tiles(d);
        for (int64_t i = 0; i < n; ++i)
            if (!(lower(p + i) >= 0 && lower(p + i) < t && std::isfinite(w0(p + i)) && std::isfinite(w1(p + i))))
                throw std::invalid_argument("pixel tiles must be valid and weights finite");
        plans.push_back(histeq::AxisPlan{n, t, nullptr, nullptr, lower.data() + p, w0.data() + p, w1.data() + p});
        p += static_cast<size_t>(n);
    }
    if constexpr (histeq::is_float_v<T>) {
        if (!level || !slope || level->shape(0) != ntiles || level->shape(1) != static_cast<size_t>(nbins) + 1 ||
            slope->shape(0) != ntiles || slope->shape(1) != static_cast<size_t>(nbins) + 1)
            throw std::invalid_argument("float tiles need level and slope of shape (tiles, nbins + 1)");
    } else {
        if (!lut || lut->shape(0) != ntiles || lut->shape(1) != static_cast<size_t>(nbins))
            throw std::invalid_argument("integer tiles need lut of shape (tiles, nbins)");
    }
    nb::gil_scoped_release release;
    histeq::clahe_chunk<T>(image.data(), out.data(), plans, spec, reinterpret_cast<const char*>(identity.data()),
                           lut ? lut->data() : nullptr, level ? level->data() : nullptr,
                           slope ? slope->data() : nullptr, denominator, threads);
}

template <class T>
void def_grey(nb::module_& m) {
    if constexpr (!std::is_same<T, float>::value) {  // float and double images share the double binding
        m.def("clahe_maps", &clahe_maps<T>, "hists"_a.noconvert(), "identity"_a.noconvert(), "lut"_a.noconvert(),
              "level"_a.noconvert(), "slope"_a.noconvert(), "clip_limit"_a, "clip_groups"_a, "nbins"_a, "lo"_a,
              "hi"_a, "nominal_lo"_a, "nominal_hi"_a, "out_lo"_a, "out_hi"_a);
    }
    m.def("clahe_chunk", &clahe_chunk<T>, "image"_a.noconvert(), "out"_a.noconvert(), "shape"_a.noconvert(),
          "tiles"_a.noconvert(), "lower"_a.noconvert(), "w0"_a.noconvert(), "w1"_a.noconvert(),
          "identity"_a.noconvert(), "lut"_a.noconvert().none(), "level"_a.noconvert().none(),
          "slope"_a.noconvert().none(), "denominator"_a, "nbins"_a, "lo"_a, "hi"_a, "nominal_lo"_a, "nominal_hi"_a,
          "out_lo"_a, "out_hi"_a, "threads"_a);
    m.def("exact_order", &exact_order<T>, "padded"_a.noconvert(), "order"_a.noconvert(), "ties"_a.noconvert(),
          "shape"_a.noconvert(), "pad"_a, "offsets"_a.noconvert(), "shell_start"_a.noconvert(), "threads"_a);
    if constexpr (histeq::is_float_v<T>) {
        m.def("map_pieces", &map_pieces<T>, "image"_a.noconvert(), "out"_a.noconvert(), "ranges"_a.noconvert(),
              "nbins"_a, "offsets"_a.noconvert(), "start"_a.noconvert(), "level"_a.noconvert(),
              "slope"_a.noconvert(), "threads"_a);
    }
    m.def("equalize", &equalize<T>, "image"_a.noconvert(), "mask"_a.noconvert().none(), "out"_a.noconvert(),
          "nbins"_a, "data_range"_a, "lo"_a, "hi"_a, "nominal_lo"_a, "nominal_hi"_a, "out_lo"_a, "out_hi"_a,
          "threads"_a);
    m.def("clahe", &clahe<T>, "image"_a.noconvert(), "mask"_a.noconvert().none(), "out"_a.noconvert(),
          "shape"_a.noconvert(), "tiles"_a.noconvert(), "bounds"_a.noconvert(), "lower"_a.noconvert(),
          "w0"_a.noconvert(), "w1"_a.noconvert(), "clip_limit"_a, "clip_groups"_a, "denominator"_a,
          "table_budget"_a, "nbins"_a, "data_range"_a, "lo"_a, "hi"_a, "nominal_lo"_a, "nominal_hi"_a, "out_lo"_a,
          "out_hi"_a, "threads"_a);
    m.def("histogram", &histogram<T>, "image"_a.noconvert(), "mask"_a.noconvert().none(), "counts"_a.noconvert(),
          "ranges"_a.noconvert(), "nbins"_a, "data_range"_a, "lo"_a, "hi"_a, "threads"_a);
}

template <class T>
void def_color(nb::module_& m) {
    m.def("luma", &luma<T>, "rgb"_a.noconvert(), "y"_a.noconvert(), "threads"_a);
    m.def("luma_apply", &luma_apply<T>, "rgb"_a.noconvert(), "y"_a.noconvert(), "y_new"_a.noconvert(),
          "out"_a.noconvert(), "lo"_a, "hi"_a, "threads"_a);
    if constexpr (!histeq::is_float_v<T>) {
        m.def("equalize_luma", &equalize_luma<T>, "rgb"_a.noconvert(), "mask"_a.noconvert().none(),
              "out"_a.noconvert(), "nbins"_a, "data_range"_a, "lo"_a, "hi"_a, "nominal_lo"_a, "nominal_hi"_a,
              "out_lo"_a, "out_hi"_a, "threads"_a);
    }
    m.def("value", &value<T>, "rgb"_a.noconvert(), "v"_a.noconvert(), "threads"_a);
    m.def("value_apply", &value_apply<T>, "rgb"_a.noconvert(), "v"_a.noconvert(), "v_new"_a.noconvert(),
          "out"_a.noconvert(), "lo"_a, "hi"_a, "threads"_a);
    m.def("lightness", &lightness<T>, "rgb"_a.noconvert(), "l"_a.noconvert(), "scale"_a, "threads"_a);
    m.def("lightness_apply", &lightness_apply<T>, "rgb"_a.noconvert(), "l_new"_a.noconvert(), "out"_a.noconvert(),
          "scale"_a, "lo"_a, "hi"_a, "threads"_a);
}

template <class T>
void def_lut(nb::module_& m) {
    m.def("apply_lut", &apply_lut<T, T>, "image"_a.noconvert(), "lut"_a.noconvert(), "out"_a.noconvert(), "lo"_a,
          "threads"_a);
    m.def("apply_lut", &apply_lut<T, double>, "image"_a.noconvert(), "lut"_a.noconvert(), "out"_a.noconvert(),
          "lo"_a, "threads"_a);
}

}  // namespace

NB_MODULE(_core, m) {
    m.doc() = "histeq's compiled kernels; use the histeq package, not this module.";
    m.def("equalize_default", &equalize_default, "image"_a.noconvert(), "out"_a.noconvert(), "threads"_a);
    m.def("equalize_peer", &equalize_peer, "image"_a.noconvert(), "mask"_a.noconvert().none(), "out"_a.noconvert(),
          "rule"_a, "threads"_a);
    def_grey<uint8_t>(m);
    def_grey<int8_t>(m);
    def_grey<uint16_t>(m);
    def_grey<int16_t>(m);
    def_grey<uint32_t>(m);
    def_grey<int32_t>(m);
    def_grey<float>(m);
    def_grey<double>(m);
    def_color<uint8_t>(m);
    def_color<uint16_t>(m);
    def_color<float>(m);
    def_color<double>(m);
    def_lut<uint8_t>(m);
    def_lut<int8_t>(m);
    def_lut<uint16_t>(m);
    def_lut<int16_t>(m);
    def_clahe_opencv<uint8_t>(m);
    def_clahe_opencv<uint16_t>(m);
    m.def("pool_size", []() { return histeq::Pool::get().size(); });
}

// Lets threadpoolctl tell histeq's extension from other libraries named _core.
extern "C" __attribute__((visibility("default"))) int histeq_core_marker() { return 1; }
