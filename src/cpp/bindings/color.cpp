// The colour modes' kernels: luma, value and lightness, their application, and fused luma equalization.
#include "common.hpp"
#include "histeq/color.hpp"

namespace {

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
void equalize_luma(In<T, 3> rgb, Mask mask, Out<T, 3> out, const histeq::Spec& spec, int threads) {
    require_same_shape(rgb, out, "out");
    if (rgb.shape(2) < 3 || rgb.shape(2) > 4)
        throw std::invalid_argument("colour modes need 3 (RGB) or 4 (RGBA) channels");
    if (mask && (mask->shape(0) != rgb.shape(0) || mask->shape(1) != rgb.shape(1)))
        throw std::invalid_argument("mask must have shape (batch, pixels)");
    require_threads(threads);
    require_spec_fits<T>(spec);
    if (spec.data_range) throw std::invalid_argument("luma equalization bins over a fixed range");
    const bool* m = mask ? mask->data() : nullptr;
    nb::gil_scoped_release release;
    histeq::equalize_luma_batch(rgb.data(), m, out.data(), rgb.shape(0), rgb.shape(1), static_cast<int>(rgb.shape(2)),
                                spec, threads);
}

}  // namespace

void register_color(nb::module_& m) {
    auto colour = [&](auto tag) {
        using T = decltype(tag);
        m.def("luma", &luma<T>, "rgb"_a.noconvert(), "y"_a.noconvert(), "threads"_a);
        m.def("luma_apply", &luma_apply<T>, "rgb"_a.noconvert(), "y"_a.noconvert(), "y_new"_a.noconvert(),
              "out"_a.noconvert(), "lo"_a, "hi"_a, "threads"_a);
        if constexpr (!histeq::is_float_v<T>) {
            m.def("equalize_luma", &equalize_luma<T>, "rgb"_a.noconvert(), "mask"_a.noconvert().none(),
                  "out"_a.noconvert(), "spec"_a, "threads"_a);
        }
        m.def("value", &value<T>, "rgb"_a.noconvert(), "v"_a.noconvert(), "threads"_a);
        m.def("value_apply", &value_apply<T>, "rgb"_a.noconvert(), "v"_a.noconvert(), "v_new"_a.noconvert(),
              "out"_a.noconvert(), "lo"_a, "hi"_a, "threads"_a);
        m.def("lightness", &lightness<T>, "rgb"_a.noconvert(), "l"_a.noconvert(), "scale"_a, "threads"_a);
        m.def("lightness_apply", &lightness_apply<T>, "rgb"_a.noconvert(), "l_new"_a.noconvert(),
              "out"_a.noconvert(), "scale"_a, "lo"_a, "hi"_a, "threads"_a);
    };
    colour(uint8_t{});
    colour(uint16_t{});
    colour(float{});
    colour(double{});
}
