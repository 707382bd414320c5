// Exact equalization's pixel order, matching's piecewise-linear maps and its histograms with bin extremes.
#include "common.hpp"
#include "histeq/tables/bin_extremes.hpp"
#include "histeq/tables/exact.hpp"
#include "histeq/tables/pieces.hpp"

namespace {

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
void map_pieces(In<T> image, Out<T> out, In<double> ranges, int64_t nbins, In<int64_t, 1> offsets, In<double, 1> start,
                In<double, 1> level, In<double, 1> slope, int threads) {
    require_same_shape(image, out, "out");
    require_threads(threads);
    const size_t batch = image.shape(0);
    if (ranges.shape(0) != batch || ranges.shape(1) != 2)
        throw std::invalid_argument("ranges must have shape (batch, 2)");
    if (nbins < 1 || nbins > kMaxBins) throw std::invalid_argument("nbins must be between 1 and 2**24");
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

// histogram's counts and ranges (float images), and each bin's least and greatest counted value.
template <class T>
void histogram_extremes(In<T> image, Mask mask, Out<int64_t> counts, Out<double> ranges, Out<double> low,
                        Out<double> high, const histeq::Spec& spec, int threads) {
    if (mask) require_same_shape(image, *mask, "mask");
    require_same_shape(counts, low, "low");
    require_same_shape(counts, high, "high");
    require_threads(threads);
    require_spec_fits<T>(spec);
    if (counts.shape(0) != image.shape(0) || counts.shape(1) != static_cast<size_t>(spec.nbins))
        throw std::invalid_argument("counts must have shape (batch, nbins)");
    if (ranges.shape(0) != image.shape(0) || ranges.shape(1) != 3)
        throw std::invalid_argument("ranges must have shape (batch, 3)");
    nb::gil_scoped_release release;
    histeq::histogram_extremes_batch(image.data(), mask ? mask->data() : nullptr, image.shape(0), image.shape(1), spec,
                                     threads, counts.data(), ranges.data(), low.data(), high.data());
}

}  // namespace

void register_matching(nb::module_& m) {
    for_grey_dtypes([&](auto tag) {
        using T = decltype(tag);
        m.def("exact_order", &exact_order<T>, "padded"_a.noconvert(), "order"_a.noconvert(), "ties"_a.noconvert(),
              "shape"_a.noconvert(), "pad"_a, "offsets"_a.noconvert(), "shell_start"_a.noconvert(), "threads"_a);
        if constexpr (histeq::is_float_v<T>) {
            m.def("map_pieces", &map_pieces<T>, "image"_a.noconvert(), "out"_a.noconvert(), "ranges"_a.noconvert(),
                  "nbins"_a, "offsets"_a.noconvert(), "start"_a.noconvert(), "level"_a.noconvert(),
                  "slope"_a.noconvert(), "threads"_a);
            m.def("histogram_extremes", &histogram_extremes<T>, "image"_a.noconvert(), "mask"_a.noconvert().none(),
                  "counts"_a.noconvert(), "ranges"_a.noconvert(), "low"_a.noconvert(), "high"_a.noconvert(), "spec"_a,
                  "threads"_a);
        }
    });
}
