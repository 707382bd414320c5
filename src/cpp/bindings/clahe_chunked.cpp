// Chunked and fitted CLAHE: tile mappings from summed tile histograms, and one chunk interpolated from them.
#include "common.hpp"
#include "histeq/clahe.hpp"

namespace {

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

}  // namespace

void register_clahe_chunked(nb::module_& m) {
    for_grey_dtypes([&](auto tag) {
        using T = decltype(tag);
        if constexpr (!std::is_same<T, float>::value) {  // float and double images share the double binding
            m.def("clahe_maps", &clahe_maps<T>, "hists"_a.noconvert(), "identity"_a.noconvert(),
                  "lut"_a.noconvert(), "level"_a.noconvert(), "slope"_a.noconvert(), "clip_limit"_a,
                  "clip_groups"_a, "nbins"_a, "lo"_a, "hi"_a, "nominal_lo"_a, "nominal_hi"_a, "out_lo"_a,
                  "out_hi"_a);
        }
        m.def("clahe_chunk", &clahe_chunk<T>, "image"_a.noconvert(), "out"_a.noconvert(), "shape"_a.noconvert(),
              "tiles"_a.noconvert(), "lower"_a.noconvert(), "w0"_a.noconvert(), "w1"_a.noconvert(),
              "identity"_a.noconvert(), "lut"_a.noconvert().none(), "level"_a.noconvert().none(),
              "slope"_a.noconvert().none(), "denominator"_a, "nbins"_a, "lo"_a, "hi"_a, "nominal_lo"_a,
              "nominal_hi"_a, "out_lo"_a, "out_hi"_a, "threads"_a);
    });
}
