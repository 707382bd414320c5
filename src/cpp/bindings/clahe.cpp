// CLAHE of 8- and 16-bit images: histeq's own (any number of axes) and OpenCV's (compat='opencv').
#include "clahe_call.hpp"
#include "histeq/clahe/clahe_opencv.hpp"

namespace {

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
    histeq::clahe_opencv_batch(image.data(), out.data(), static_cast<int64_t>(image.shape(0)), height, width, tiles_y,
                               tiles_x, tile_h, tile_w, limit, threads);
}

}  // namespace

void register_clahe(nb::module_& m) {
    clahe_binding::register_dtype<uint8_t>(m);
    clahe_binding::register_dtype<int8_t>(m);
    clahe_binding::register_dtype<uint16_t>(m);
    clahe_binding::register_dtype<int16_t>(m);
    auto opencv = [&](auto tag) {
        using T = decltype(tag);
        m.def("clahe_opencv", &clahe_opencv<T>, "image"_a.noconvert(), "out"_a.noconvert(), "height"_a, "width"_a,
              "tiles_y"_a, "tiles_x"_a, "tile_h"_a, "tile_w"_a, "limit"_a, "threads"_a);
    };
    opencv(uint8_t{});
    opencv(uint16_t{});
}
