// Contrast-limited adaptive histogram equalization (CLAHE) of a batch of
// n-dimensional images, in two phases over index ranges: one mapping per tile
// (contextual region; clahe_tables.hpp), then every pixel interpolated between
// the mappings of the tiles around it, multilinearly over the spatial axes
// (clahe_interpolate.hpp and the faster kernels of clahe_cells.hpp,
// clahe_blended_rows.hpp and clahe_levels.hpp, which give the same results).
//
// The tile geometry (clahe_plan.hpp) is planned by the caller, so that the
// same plan serves every image of a batch.  This file chooses, per image, the
// tables' layout and the interpolation kernel (choose_route), and runs them.
#pragma once

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <vector>

#include "histeq/clahe/clahe_blended_rows.hpp"
#include "histeq/clahe/clahe_cells.hpp"
#include "histeq/clahe/clahe_interpolate.hpp"
#include "histeq/clahe/clahe_levels.hpp"
#include "histeq/clahe/clahe_plan.hpp"
#include "histeq/clahe/clahe_rounding.hpp"
#include "histeq/clahe/clahe_tables.hpp"
#include "histeq/clahe/clip.hpp"
#include "histeq/tables/equalize.hpp"
#include "histeq/runtime/parallel.hpp"

namespace histeq {

// How the tile tables are laid out.
enum class TableLayout {
    kUniform,   // every tile over the image's range of bins
    kWindowed,  // each tile over the bins its readers hold (tile_windows)
    kLayered,   // windowed, built a layer of tiles at a time into two slots (clahe_layered)
};

// Which kernel interpolates the pixels.
enum class ClaheKernel {
    kGeneral,      // clahe_pixels: floats, and integers binned coarser than one bin per level
    kCells,        // clahe_pixels_cells: 2-D, levels of a byte, sums in int32
    kBlendedRows,  // clahe_pixels_blended: 2-D, wide images
    kLevels,       // clahe_pixels_levels: any number of axes
};

struct ClaheRoute {
    TableLayout tables;
    ClaheKernel kernel;
};

// The route of an integer image whose values span `width` bins (one bin per
// level: direct).  Tables over the image's range where they are small, or
// small next to the image's rows; else (16-bit, many tiles) each tile's spans
// only what the pixels around it hold.  Windowed levels of 2 or more axes are
// layered where a layer has tiles enough to keep the threads busy (measured:
// a 2-D image's 8 tiles per layer build slower than its 64 at once).
inline ClaheRoute choose_route(bool direct, const Axes& axes, int64_t width, int64_t span, double denominator) {
    const int64_t ntiles = tile_count(axes);
    const bool two_d = axes.size() == 2;
    const bool wide = direct && two_d && width * axes[1].tiles <= 2 * axes[1].n;
    const bool uniform = wide || ntiles * width < (int64_t{1} << 16);
    const bool layered = direct && !uniform && axes.size() >= 2 && ntiles / axes[0].tiles >= 32;
    const TableLayout tables = uniform   ? TableLayout::kUniform
                               : layered ? TableLayout::kLayered
                                         : TableLayout::kWindowed;
    if (!direct) return {tables, ClaheKernel::kGeneral};
    if (uniform && two_d && span < 256 && HalfUpDivision(static_cast<int64_t>(denominator), span).small())
        return {tables, ClaheKernel::kCells};
    return {tables, wide ? ClaheKernel::kBlendedRows : ClaheKernel::kLevels};
}

// What every image of one call shares.
struct ClaheSetup {
    const Axes& axes;
    int64_t ntiles, pixels;
    double clip_limit;
    int64_t clip_groups;
    double denominator;
    double table_budget;  // per worker
};

// One worker's tables, reused across images and (up to kKeptBytes) calls.
template <class T>
struct ClaheWorkspace {
    ClaheMaps<T> maps;
    std::vector<int32_t> blend_table;  // kBlendedRows: levels above out_lo, as int32
    Scratch<uint32_t> cell_tables;     // kCells

    size_t bytes() const { return maps.bytes() + 4 * blend_table.capacity() + cell_tables.bytes(); }
};

// The layered build and interpolation of one integer image with one bin per
// level: tiles a layer (along the first axis) at a time, each layer's tables
// filling one of two slots, and the rows that read the last two layers
// interpolated before the next layer is built: a quarter of the memory at 8
// tiles, and the tables read while still cached.  One parallel region
// (starting threads costs about 50 us each time), phases separated by a
// barrier: layer 0, then (layer k + 1, rows of layer k) for every k, each in
// equal shares of its tiles or rows; the build of layer k + 2 overwrites layer
// k's slot only after layer k's rows.
template <class T, class Bins>
void clahe_layered(const T* src, const bool* mask, T* dst, const ClaheSetup& setup, const Spec& spec, const Bins& bins,
                   const ClipRule& clip, const std::vector<int64_t>& origin, int threads, ClaheMaps<T>& maps) {
    const Axes& axes = setup.axes;
    const int64_t layers = axes[0].tiles, layer_tiles = setup.ntiles / layers;
    const int64_t rows_per_index = setup.pixels / axes.back().n / axes[0].n;
    std::vector<int64_t> layer_rows(layers + 1, 0);  // the rows of layer k: lower = k along the first axis
    for (int64_t i = 0; i < axes[0].n; ++i) layer_rows[axes[0].lower[i] + 1] = i + 1;
    for (int64_t k = 1; k <= layers; ++k) layer_rows[k] = std::max(layer_rows[k], layer_rows[k - 1]);
    const int team = plan_workers(layer_tiles, threads, 1);
    maps.hists.resize(static_cast<size_t>(team) * (spec.nbins + 1));
    auto build = [&](int member, int64_t k) {
        clahe_tiles(src, mask, axes, spec, bins, clip, 1, maps, k * layer_tiles + layer_tiles * member / team,
                    k * layer_tiles + layer_tiles * (member + 1) / team, member);
    };
    auto interpolate = [&](int member, int64_t k) {
        clahe_pixels_levels(src, dst, axes, spec, maps.lut.data(), origin, setup.denominator, 1,
                            layer_rows[k] * rows_per_index, layer_rows[k + 1] * rows_per_index, member, team);
    };
    // Phases: build 0; then for k < layers - 1, build k + 1 (odd) and rows of k (even); last, rows of layers - 1.
    parallel_phases(team, 2 * layers, [&](int member, int64_t phase) {
        if (phase == 0) return build(member, 0);
        const int64_t k = (phase - 1) / 2;
        if (phase % 2 == 1 && k + 1 < layers) return build(member, k + 1);
        interpolate(member, k);
    });
}

// Lays out the tables of one integer image (route.tables) over the bins
// [first, first + width) of its values.
template <class T, class Bins>
void lay_out_tables(const T* src, const ClaheSetup& setup, const Bins& bins, TableLayout layout, int64_t first,
                    int64_t width, int threads, ClaheMaps<T>& maps) {
    if (layout == TableLayout::kUniform) return maps.uniform(setup.ntiles, first, width);
    const int64_t layer_tiles = layout == TableLayout::kLayered ? setup.ntiles / setup.axes[0].tiles : 0;
    tile_windows(src, setup.axes, bins, threads, maps, layer_tiles, setup.table_budget);
}

// Where each tile's table would start if it held every level: tile t's level
// for value v is lut[origin[t] + v] (the levels kernel's addressing).
template <class T>
std::vector<int64_t> level_origins(const ClaheMaps<T>& maps, const DirectBins& bins) {
    std::vector<int64_t> origin(maps.offset.size());
    for (size_t tile = 0; tile < origin.size(); ++tile) origin[tile] = maps.offset[tile] - maps.first[tile] - bins.lo;
    return origin;
}

// One integer image with one bin per level (DirectBins), by its route.
template <class T>
void clahe_direct(const T* src, const bool* mask, T* dst, const ClaheSetup& setup, const Spec& spec,
                  const DirectBins& bins, const ClipRule& clip, ClaheRoute route, int64_t first, int64_t width,
                  int threads, ClaheWorkspace<T>& work) {
    ClaheMaps<T>& maps = work.maps;
    const Axes& axes = setup.axes;
    if (route.tables == TableLayout::kLayered)
        return clahe_layered(src, mask, dst, setup, spec, bins, clip, level_origins(maps, bins), threads, maps);
    clahe_tiles(src, mask, axes, spec, bins, clip, threads, maps, 0, setup.ntiles);
    switch (route.kernel) {
        case ClaheKernel::kCells:
            return clahe_pixels_cells(src, dst, axes[0], axes[1], spec, maps.lut.data(), bins.lo + first, width,
                                      setup.denominator, threads, work.cell_tables);
        case ClaheKernel::kBlendedRows: {
            const int64_t olo = static_cast<int64_t>(spec.out_lo), entries = setup.ntiles * width;
            work.blend_table.resize(entries);
            for (int64_t j = 0; j < entries; ++j)
                work.blend_table[j] = static_cast<int32_t>(static_cast<int64_t>(maps.lut[j]) - olo);
            return clahe_pixels_blended(src, dst, axes[0], axes[1], spec, bins.lo + first, width, work.blend_table,
                                        setup.denominator, threads);
        }
        default:
            return clahe_pixels_levels(src, dst, axes, spec, maps.lut.data(), level_origins(maps, bins),
                                       setup.denominator, threads, 0, setup.pixels / axes.back().n);
    }
}

// One integer image: tables kept only for the bins its values fall in.
// counted: the stats of its counted pixels, where a mask selects them.
template <class T>
void clahe_integer(const T* src, const bool* mask, T* dst, const ClaheSetup& setup, const Spec& spec,
                   const Stats& counted, int threads, ClaheWorkspace<T>& work) {
    const Stats all = image_stats(src, static_cast<const bool*>(nullptr), setup.pixels, threads);
    const Stats& in_clip = mask ? counted : all;
    with_int_bins<T>(static_cast<int64_t>(spec.lo), static_cast<int64_t>(spec.hi), spec.nbins, [&](const auto& bins) {
        constexpr bool kDirect = std::is_same<std::decay_t<decltype(bins)>, DirectBins>::value;
        const int64_t first = bins(static_cast<int64_t>(all.vmin));
        const int64_t width = bins(static_cast<int64_t>(all.vmax)) - first + 1;
        const ClipRule clip{setup.clip_limit, setup.clip_groups, bins(static_cast<int64_t>(in_clip.vmin)),
                            bins(static_cast<int64_t>(in_clip.vmax))};
        const ClaheRoute route = choose_route(kDirect, setup.axes, width,
                                              static_cast<int64_t>(spec.out_hi - spec.out_lo), setup.denominator);
        lay_out_tables(src, setup, bins, route.tables, first, width, threads, work.maps);
        if constexpr (kDirect) {
            clahe_direct(src, mask, dst, setup, spec, bins, clip, route, first, width, threads, work);
        } else {
            clahe_tiles(src, mask, setup.axes, spec, bins, clip, threads, work.maps, 0, setup.ntiles);
            clahe_pixels(src, dst, setup.axes, spec, bins, work.maps, setup.denominator, threads);
        }
    });
}

template <class T>
void clahe_float(const T* src, const bool* mask, T* dst, const ClaheSetup& setup, const Spec& spec,
                 const Stats& counted, int threads, ClaheMaps<T>& maps) {
    const FloatBins bins(spec.lo, spec.hi, spec.nbins);
    ClipRule clip{setup.clip_limit, setup.clip_groups};
    if (clip.grouped()) {
        clip.lo = bins(bins.clip(counted.vmin));
        clip.hi = bins(bins.clip(counted.vmax));
    }
    clahe_tiles(src, mask, setup.axes, spec, bins, clip, threads, maps, 0, setup.ntiles);
    clahe_pixels(src, dst, setup.axes, spec, bins, maps, setup.denominator, threads);
}

// One image.  With no pixel counted, the identity rescale, as equalize does.
template <class T>
void clahe_image(const T* src, const bool* mask, T* dst, const ClaheSetup& setup, Spec spec, int threads,
                 ClaheWorkspace<T>& work) {
    Stats counted{};
    if (spec.data_range || is_float_v<T> || mask) {
        counted = image_stats(src, mask, setup.pixels, threads);
        if (counted.count == 0) return apply_rescale(src, dst, setup.pixels, spec, threads);
        if (spec.data_range) std::tie(spec.lo, spec.hi) = bin_range<T>(spec, counted);
    }
    if constexpr (is_float_v<T>) {
        clahe_float(src, mask, dst, setup, spec, counted, threads, work.maps);
    } else {
        clahe_integer(src, mask, dst, setup, spec, counted, threads, work);
    }
}

// The calling thread's workspaces, kept for its next call up to kKeptBytes
// each: fresh pages cost a fault each (measured: a 128^3 16-bit volume's 3 MB
// of tables took 2-3 ms more on fresh memory, with 2 threads).  Larger ones
// are freed when the call ends (trim), exceptions included.
template <class T>
class KeptWorkspaces {
   public:
    static constexpr size_t kKeptBytes = size_t{16} << 20;

    explicit KeptWorkspaces(size_t workers) : kept_(storage()) {
        if (kept_.size() < workers) kept_.resize(workers);
    }
    ~KeptWorkspaces() {
        for (ClaheWorkspace<T>& work : kept_)
            if (work.bytes() > kKeptBytes) work = ClaheWorkspace<T>();
    }
    KeptWorkspaces(const KeptWorkspaces&) = delete;
    KeptWorkspaces& operator=(const KeptWorkspaces&) = delete;
    ClaheWorkspace<T>& operator[](size_t w) { return kept_[w]; }

   private:
    static std::vector<ClaheWorkspace<T>>& storage() {
        thread_local std::vector<ClaheWorkspace<T>> kept;
        return kept;
    }
    std::vector<ClaheWorkspace<T>>& kept_;
};

template <class T>
void clahe_batch(const T* in, const bool* mask, T* out, int64_t batch, int64_t pixels, const Axes& axes,
                 const Spec& spec, double clip_limit, int64_t clip_groups, double denominator, double table_budget,
                 int threads) {
    const int workers = image_workers(batch, threads);
    const ClaheSetup setup{axes,        tile_count(axes),      pixels, clip_limit, clip_groups,
                           denominator, table_budget / workers};
    if constexpr (is_float_v<T>) {
        require_tables(
            static_cast<double>(workers) * static_cast<double>(setup.ntiles) * static_cast<double>(spec.nbins + 1) * 16,
            table_budget);
    }
    KeptWorkspaces<T> work(workers);
    for (int w = 0; w < workers; ++w) {
        ClaheMaps<T>& maps = work[w].maps;
        maps.identity.resize(setup.ntiles);
        if constexpr (is_float_v<T>) {
            maps.level.resize(setup.ntiles * (spec.nbins + 1));
            maps.slope.resize(setup.ntiles * (spec.nbins + 1));
        }
    }
    for_each_image(batch, threads, [&](int64_t image, int inner, int w) {
        const int64_t offset = image * pixels;
        clahe_image(in + offset, mask ? mask + offset : nullptr, out + offset, setup, spec, inner, work[w]);
    });
}

// Chunked CLAHE (Dask): the interpolation of one chunk, its axis plans sliced
// to the chunk's pixels (tile indices and weights stay those of the whole
// image), from mappings made by clahe_maps_from of histograms summed over
// chunks.
template <class T>
void clahe_chunk(const T* in, T* out, const Axes& axes, const Spec& spec, const char* identity, const T* lut,
                 const double* level, const double* slope, double denominator, int threads) {
    const int64_t ntiles = tile_count(axes), nbins = spec.nbins;
    ClaheMaps<T> maps;
    maps.identity.assign(identity, identity + ntiles);
    if constexpr (is_float_v<T>) {
        maps.level.assign(level, level + ntiles * (nbins + 1));
        maps.slope.assign(slope, slope + ntiles * (nbins + 1));
        clahe_pixels(in, out, axes, spec, FloatBins(spec.lo, spec.hi, nbins), maps, denominator, threads);
    } else {
        maps.uniform(ntiles, 0, nbins);
        std::copy(lut, lut + ntiles * nbins, maps.lut.begin());
        with_int_bins<T>(static_cast<int64_t>(spec.lo), static_cast<int64_t>(spec.hi), nbins, [&](const auto& bins) {
            if constexpr (std::is_same<std::decay_t<decltype(bins)>, DirectBins>::value) {
                clahe_pixels_levels(in, out, axes, spec, maps.lut.data(), level_origins(maps, bins), denominator,
                                    threads, 0, row_count(axes));
            } else {
                clahe_pixels(in, out, axes, spec, bins, maps, denominator, threads);
            }
        });
    }
}

}  // namespace histeq
