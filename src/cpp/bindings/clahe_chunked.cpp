// Chunked and fitted CLAHE: tile mappings from summed tile histograms, and one chunk interpolated from them.
#include "common.hpp"
#include "histeq/clahe/clahe.hpp"
#include "tile_plan.hpp"

namespace {

void require_maps_input(const In<int64_t>& hists, const Out<uint8_t, 1>& identity, const histeq::Spec& spec,
                        double clip_limit, int64_t clip_groups) {
    if (spec.data_range) throw std::invalid_argument("tile mappings need fixed bins (no data range)");
    if (hists.shape(1) != static_cast<size_t>(spec.nbins)) throw std::invalid_argument("hists must be (tiles, nbins)");
    if (identity.shape(0) != hists.shape(0)) throw std::invalid_argument("identity needs one entry per tile");
    require_clip(clip_limit, clip_groups);
    for (size_t j = 0; j < hists.size(); ++j)
        if (hists.data()[j] < 0) throw std::invalid_argument("histogram counts must not be negative");
}

// Integer tile tables (tiles, nbins) from summed tile histograms: the table's dtype is the image's.
template <class T>
void clahe_tables(In<int64_t> hists, Out<uint8_t, 1> identity, Out<T> lut, const histeq::Spec& spec, double clip_limit,
                  int64_t clip_groups) {
    require_spec_fits<T>(spec);
    require_maps_input(hists, identity, spec, clip_limit, clip_groups);
    if (lut.shape(0) != hists.shape(0) || lut.shape(1) != static_cast<size_t>(spec.nbins))
        throw std::invalid_argument("lut must be (tiles, nbins)");
    nb::gil_scoped_release release;
    histeq::clahe_maps_from<T>(hists.data(), static_cast<int64_t>(hists.shape(0)), spec, clip_limit, clip_groups,
                               reinterpret_cast<char*>(identity.data()), lut.data(), nullptr, nullptr);
}

// Float tile mappings: levels and slopes (tiles, nbins + 1), computed in double whatever the image's precision.
void clahe_float_maps(In<int64_t> hists, Out<uint8_t, 1> identity, Out<double> level, Out<double> slope,
                      const histeq::Spec& spec, double clip_limit, int64_t clip_groups) {
    require_spec_fits<double>(spec);
    require_maps_input(hists, identity, spec, clip_limit, clip_groups);
    const size_t ntiles = hists.shape(0), width = static_cast<size_t>(spec.nbins) + 1;
    if (level.shape(0) != ntiles || level.shape(1) != width || slope.shape(0) != ntiles || slope.shape(1) != width)
        throw std::invalid_argument("level and slope must be (tiles, nbins + 1)");
    nb::gil_scoped_release release;
    histeq::clahe_maps_from<double>(hists.data(), static_cast<int64_t>(ntiles), spec, clip_limit, clip_groups,
                                    reinterpret_cast<char*>(identity.data()), nullptr, level.data(), slope.data());
}

// One chunk (1, pixels) interpolated from the whole image's tile mappings: lut for integers, level and slope
// for floats.  plan: the chunk's, without bounds.
template <class T>
void clahe_chunk(In<T> image, Out<T> out, const TilePlan& plan, const histeq::Spec& spec, In<uint8_t, 1> identity,
                 std::optional<In<T>> lut, std::optional<In<double>> level, std::optional<In<double>> slope,
                 int threads) {
    require_same_shape(image, out, "out");
    require_threads(threads);
    require_spec_fits<T>(spec);
    if (spec.data_range) throw std::invalid_argument("tile mappings need fixed bins (no data range)");
    if (image.shape(0) != 1) throw std::invalid_argument("one chunk at a time");
    plan.require_pixels(image.shape(1));
    const size_t ntiles = static_cast<size_t>(plan.ntiles()), nbins = static_cast<size_t>(spec.nbins);
    if (identity.shape(0) != ntiles) throw std::invalid_argument("identity needs one entry per tile");
    if constexpr (histeq::is_float_v<T>) {
        if (!level || !slope || level->shape(0) != ntiles || level->shape(1) != nbins + 1 ||
            slope->shape(0) != ntiles || slope->shape(1) != nbins + 1)
            throw std::invalid_argument("float tiles need level and slope of shape (tiles, nbins + 1)");
    } else {
        if (!lut || lut->shape(0) != ntiles || lut->shape(1) != nbins)
            throw std::invalid_argument("integer tiles need lut of shape (tiles, nbins)");
    }
    nb::gil_scoped_release release;
    histeq::clahe_chunk<T>(image.data(), out.data(), plan.axes(), spec, reinterpret_cast<const char*>(identity.data()),
                           lut ? lut->data() : nullptr, level ? level->data() : nullptr,
                           slope ? slope->data() : nullptr, plan.denominator(), threads);
}

}  // namespace

void register_clahe_chunked(nb::module_& m) {
    m.def("clahe_float_maps", &clahe_float_maps, "hists"_a.noconvert(), "identity"_a.noconvert(), "level"_a.noconvert(),
          "slope"_a.noconvert(), "spec"_a, "clip_limit"_a, "clip_groups"_a);
    for_grey_dtypes([&](auto tag) {
        using T = decltype(tag);
        if constexpr (!histeq::is_float_v<T>) {
            m.def("clahe_tables", &clahe_tables<T>, "hists"_a.noconvert(), "identity"_a.noconvert(),
                  "lut"_a.noconvert(), "spec"_a, "clip_limit"_a, "clip_groups"_a);
        }
        m.def("clahe_chunk", &clahe_chunk<T>, "image"_a.noconvert(), "out"_a.noconvert(), "plan"_a, "spec"_a,
              "identity"_a.noconvert(), "lut"_a.noconvert().none(), "level"_a.noconvert().none(),
              "slope"_a.noconvert().none(), "threads"_a);
    });
}
