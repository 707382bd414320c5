// The colour modes' kernels: luma, value and lightness, their application, and fused luma equalization.
#include "common.hpp"
#include "histeq/tables/color.hpp"

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

// An intensity channel of every pixel (luma Y', HSV value V), and the RGB values rebuilt around a new one: one
// binding each for both channels, the kernel a template argument.
template <class T, void (*Kernel)(const T*, T*, int64_t, int, int)>
void intensity(In<T> rgb, Out<T, 1> channel, int threads) {
    const int c = rgb_channels(rgb);
    require_pixels(channel, rgb.shape(0), "the intensity");
    require_threads(threads);
    nb::gil_scoped_release release;
    Kernel(rgb.data(), channel.data(), rgb.shape(0), c, threads);
}

template <class T, void (*Apply)(const T*, const T*, const T*, T*, int64_t, int, double, double, int)>
void intensity_apply(In<T> rgb, In<T, 1> channel, In<T, 1> channel_new, Out<T> out, double lo, double hi, int threads) {
    const int c = rgb_channels(rgb);
    require_same_shape(rgb, out, "out");
    require_pixels(channel, rgb.shape(0), "the intensity");
    require_pixels(channel_new, rgb.shape(0), "the new intensity");
    require_threads(threads);
    nb::gil_scoped_release release;
    Apply(rgb.data(), channel.data(), channel_new.data(), out.data(), rgb.shape(0), c, lo, hi, threads);
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
        m.def("luma", &intensity<T, histeq::luma<T>>, "rgb"_a.noconvert(), "y"_a.noconvert(), "threads"_a);
        m.def("luma_apply", &intensity_apply<T, histeq::luma_apply<T>>, "rgb"_a.noconvert(), "y"_a.noconvert(),
              "y_new"_a.noconvert(), "out"_a.noconvert(), "lo"_a, "hi"_a, "threads"_a);
        if constexpr (!histeq::is_float_v<T>) {
            m.def("equalize_luma", &equalize_luma<T>, "rgb"_a.noconvert(), "mask"_a.noconvert().none(),
                  "out"_a.noconvert(), "spec"_a, "threads"_a);
        }
        m.def("value", &intensity<T, histeq::value<T>>, "rgb"_a.noconvert(), "v"_a.noconvert(), "threads"_a);
        m.def("value_apply", &intensity_apply<T, histeq::value_apply<T>>, "rgb"_a.noconvert(), "v"_a.noconvert(),
              "v_new"_a.noconvert(), "out"_a.noconvert(), "lo"_a, "hi"_a, "threads"_a);
        m.def("lightness", &lightness<T>, "rgb"_a.noconvert(), "l"_a.noconvert(), "scale"_a, "threads"_a);
        m.def("lightness_apply", &lightness_apply<T>, "rgb"_a.noconvert(), "l_new"_a.noconvert(), "out"_a.noconvert(),
              "scale"_a, "lo"_a, "hi"_a, "threads"_a);
    };
    colour(uint8_t{});
    colour(uint16_t{});
    colour(float{});
    colour(double{});
}
