// Global equalization: equalize (and its lean path), the peers' equalization (compat), histogram, apply_lut.
#include "common.hpp"
#include "histeq/tables/peer_equalize.hpp"

namespace {

template <class T>
void equalize(In<T> image, Mask mask, Out<T> out, const histeq::Spec& spec, int threads) {
    require_same_shape(image, out, "out");
    if (mask) require_same_shape(image, *mask, "mask");
    require_threads(threads);
    require_spec_fits<T>(spec);
    const bool* m = mask ? mask->data() : nullptr;
    nb::gil_scoped_release release;
    histeq::equalize_batch(image.data(), m, out.data(), image.shape(0), image.shape(1), spec, threads);
}

// The identity rule of equalization (nothing to equalize): the nominal range rescaled to the output range, the
// rule's one implementation, which Python's fitted mappings call too.  Reads the spec's ranges only.
template <class T>
void rescale(In<T> image, Out<T> out, const histeq::Spec& spec, int threads) {
    require_same_shape(image, out, "out");
    require_threads(threads);
    require_spec_fits<T>(spec);
    nb::gil_scoped_release release;
    histeq::apply_rescale(image.data(), out.data(), static_cast<int64_t>(image.size()), spec, threads);
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

// Reads the spec's bins only.
template <class T>
void histogram(In<T> image, Mask mask, Out<int64_t> counts, Out<double> ranges, const histeq::Spec& spec, int threads) {
    if (mask) require_same_shape(image, *mask, "mask");
    require_threads(threads);
    require_spec_fits<T>(spec);
    if (counts.shape(0) != image.shape(0) || counts.shape(1) != static_cast<size_t>(spec.nbins))
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

}  // namespace

void register_equalize(nb::module_& m) {
    m.def("equalize_default", &equalize_default, "image"_a.noconvert(), "out"_a.noconvert(), "threads"_a);
    m.def("equalize_peer", &equalize_peer, "image"_a.noconvert(), "mask"_a.noconvert().none(), "out"_a.noconvert(),
          "rule"_a, "threads"_a);
    for_grey_dtypes([&](auto tag) {
        using T = decltype(tag);
        m.def("equalize", &equalize<T>, "image"_a.noconvert(), "mask"_a.noconvert().none(), "out"_a.noconvert(),
              "spec"_a, "threads"_a);
        m.def("rescale", &rescale<T>, "image"_a.noconvert(), "out"_a.noconvert(), "spec"_a, "threads"_a);
        m.def("histogram", &histogram<T>, "image"_a.noconvert(), "mask"_a.noconvert().none(), "counts"_a.noconvert(),
              "ranges"_a.noconvert(), "spec"_a, "threads"_a);
    });
    auto lut = [&](auto tag) {
        using T = decltype(tag);
        m.def("apply_lut", &apply_lut<T, T>, "image"_a.noconvert(), "lut"_a.noconvert(), "out"_a.noconvert(), "lo"_a,
              "threads"_a);
        m.def("apply_lut", &apply_lut<T, double>, "image"_a.noconvert(), "lut"_a.noconvert(), "out"_a.noconvert(),
              "lo"_a, "threads"_a);
    };
    lut(uint8_t{});
    lut(int8_t{});
    lut(uint16_t{});
    lut(int16_t{});
}
