"""Slow, obviously correct NumPy versions of every algorithm.

They are the written definition of what the compiled kernels compute, and the
oracles the tests compare them to.  One image at a time (no batch axes), plain
NumPy, exact Python integers where integer rounding matters.  Not part of the
public API and not fast.
"""

from __future__ import annotations

import numpy as np

from histeq._kernels import FLOAT_NBINS, dtype_info

__all__ = [
    "histogram",
    "equalize",
    "equalize_color",
    "clahe",
    "clip_histogram",
    "clip_threshold",
    "match",
    "specify",
    "exact_order",
    "exact_values",
]


def _bins(info, nbins, in_range, counted):
    """(lo, hi, nbins) of one image, as documented in histeq.histogram."""
    if in_range is not None:
        lo, hi = in_range
    elif info.kind == "levels":
        lo, hi = info.lo, info.hi
    elif counted.size:
        lo, hi = float(counted.min()), float(counted.max())
        if info.is_float and lo == hi:
            lo, hi = lo - 0.5, hi + 0.5
        if info.is_float and lo == hi:  # +-0.5 vanished in rounding
            with np.errstate(over="ignore"):
                lo, hi = float(np.nextafter(lo, -np.inf)), float(np.nextafter(hi, np.inf))
        if info.is_float and not np.isfinite(hi - lo):
            raise ValueError(f"the image's values span [{lo}, {hi}], too wide for finite bins")
    else:
        lo, hi = (0.0, 1.0) if info.is_float else (0.0, 0.0)
    if nbins is None:
        nbins = int(hi - lo + 1) if info.kind == "levels" else info.default_nbins
    return lo, hi, nbins


def _int_bin(values, lo, hi, nbins):
    """Bin k holds the integer levels whose centre lies in [lo - 1/2 + k w, lo - 1/2 + (k+1) w)."""
    v = np.clip(values.astype(object), int(lo), int(hi))
    span = int(hi) - int(lo) + 1
    return np.array([(2 * (x - int(lo)) + 1) * nbins // (2 * span) for x in v.ravel()], dtype=np.int64)


def _float_edges(lo, hi, nbins):
    """NumPy's edges, k (hi - lo) / nbins + lo, with the last edge exactly hi."""
    inner = np.arange(nbins, dtype=np.float64) * ((hi - lo) / nbins) + lo
    return np.append(inner, hi)


def _scale(lo, hi, nbins):
    """nbins / (hi - lo), rounded up until hi sits at position >= nbins; None if it overflows."""
    width = np.float64(hi) - np.float64(lo)
    with np.errstate(over="ignore", divide="ignore"):
        scale = np.float64(nbins) / width
    if not np.isfinite(scale):
        return None
    while width * scale < nbins:
        scale = np.nextafter(scale, np.inf)
    return scale


def _position(x, lo, hi, nbins):
    """x in units of bins: 0 at lo, at least nbins at hi (dividing when the scale overflows)."""
    scale = _scale(lo, hi, nbins)
    return (x - lo) * scale if scale is not None else (x - lo) / (hi - lo) * nbins


def _float_bin(values, edges):
    """Bin k holds edges[k] <= x < edges[k+1]; the last bin also holds x == edges[-1]."""
    return np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(edges) - 2)


def _counted(image, mask):
    selected = image.ravel() if mask is None else image[np.broadcast_to(mask, image.shape)]
    return selected[np.isfinite(selected)] if image.dtype.kind == "f" else selected


def histogram(image, nbins=None, mask=None, in_range=None):
    """(counts, edges) of one image; see histeq.histogram: integer data in whole levels, never more bins than
    the range has levels."""
    image = np.asarray(image)
    info = dtype_info(image.dtype)
    lo, hi, nbins = _bins(info, nbins, in_range, _counted(image, mask))
    return _binned(image, nbins if info.is_float else min(nbins, int(hi - lo + 1)), mask, (lo, hi))


def _binned(image, nbins, mask, in_range):
    """(counts, edges) of one image's counted values in ``nbins`` bins of ``in_range`` (the kernels' bins, which
    equalization and CLAHE count in)."""
    image = np.asarray(image)
    info = dtype_info(image.dtype)
    counted = _counted(image, mask)
    lo, hi = in_range
    if info.is_float:
        edges = _float_edges(lo, hi, nbins)
        bins = _float_bin(np.clip(counted.astype(np.float64), lo, hi), edges)
    else:
        edges = _float_edges(lo - 0.5, hi + 0.5, nbins)
        bins = _int_bin(counted, lo, hi, nbins)
    return np.bincount(bins, minlength=nbins), edges


def _rescale(image, info, in_range, out_range):
    """The identity rule: a linear map from the nominal input range to the output range."""
    nlo, nhi = in_range if in_range is not None else (info.lo, info.hi)
    olo, ohi = out_range if out_range is not None else (info.lo, info.hi)
    if info.is_float:
        x = np.clip(image.astype(np.float64), nlo, nhi)
        return (olo + (x - nlo) * ((ohi - olo) / (nhi - nlo))).astype(image.dtype)
    nlo, nhi, olo, ohi = int(nlo), int(nhi), int(olo), int(ohi)
    x = np.clip(image.astype(object), nlo, nhi)
    out = [olo + (2 * (v - nlo) * (ohi - olo) + (nhi - nlo)) // (2 * (nhi - nlo)) for v in x.ravel()]
    return np.array(out, dtype=image.dtype).reshape(image.shape)


def equalize(image, nbins=None, mask=None, in_range=None, out_range=None):
    """Global histogram equalization of one grey image; see histeq.equalize."""
    image = np.asarray(image)
    info = dtype_info(image.dtype)
    counted = _counted(image, mask)
    olo, ohi = out_range if out_range is not None else (info.lo, info.hi)
    if info.is_float:
        if counted.size == 0 or counted.min() == counted.max():
            return _rescale(image, info, in_range, out_range)
        lo, hi, nbins = _bins(info, nbins, in_range, counted)
        counts, edges = _binned(image, nbins, mask, (lo, hi))
        # Piecewise linear: level[k] at edge k, linear in the position t (in bins)
        # inside bin k = floor(t); the top of the range (t >= nbins) is level[nbins].
        # Continuous, so taking k from t rather than from the edges changes the
        # result by rounding only.
        below = np.concatenate([[0.0], np.cumsum(counts).astype(np.float64)])
        level = olo + (ohi - olo) * (below / below[-1])
        slope = np.append(np.diff(level), 0.0)
        x = np.clip(image.astype(np.float64), lo, hi)
        t = _position(x, lo, hi, nbins)
        k = np.minimum(np.floor(np.nan_to_num(t)), nbins).astype(np.int64)
        out = level[k] + (t - k) * slope[k]
        return np.where(np.isnan(image), np.nan, out).astype(image.dtype)

    if counted.size == 0:
        return _rescale(image, info, in_range, out_range)
    lo, hi, nbins = _bins(info, nbins, in_range, counted)
    counts, _ = _binned(image, nbins, mask, (lo, hi))
    cumulative = [int(c) for c in np.cumsum(counts)]
    first = int(np.flatnonzero(counts)[0])
    total, c_min = cumulative[-1], int(counts[first])
    if total == c_min:
        return _rescale(image, info, in_range, out_range)
    olo, ohi = int(olo), int(ohi)
    table = [
        olo + max(0, (2 * (ohi - olo) * (c - c_min) + (total - c_min)) // (2 * (total - c_min))) for c in cumulative
    ]
    bins = _int_bin(image, lo, hi, nbins)
    return np.array(table, dtype=object)[bins].astype(image.dtype).reshape(image.shape)


# --- the peers' global equalization (compat) -----------------------------


def _opencv_equalize_table(counts):
    """cv2.equalizeHist's table: saturate(rint(float32(c - h[first]) * float32(255 / (N - h[first]))))."""
    first = int(np.argmax(counts > 0))
    total = int(counts.sum())
    if counts[first] == total:  # one level, or nothing counted: OpenCV leaves the image as it is
        return np.arange(256, dtype=np.uint8)
    scale = np.float32(255.0) / np.float32(total - counts[first])
    levels = np.rint((np.cumsum(counts) - counts[first]).astype(np.float32) * scale)
    return np.clip(levels, 0, 255).astype(np.uint8)


def _pillow_equalize_table(counts):
    """PIL.ImageOps.equalize's table: (step // 2 + h[0] + ... + h[i - 1]) // step, step = (N - h[last]) // 255."""
    occupied = np.flatnonzero(counts)
    step = 0 if occupied.size <= 1 else (int(counts.sum()) - int(counts[occupied[-1]])) // 255
    if step == 0:
        return np.arange(256, dtype=np.uint8)
    below = np.cumsum(counts) - counts
    return np.minimum((step // 2 + below) // step, 255).astype(np.uint8)


def equalize_peer(image, rule, mask=None):
    """compat='opencv' or 'pillow' on a (batch, pixels, channels) uint8 array: each image and channel through
    the peer's table of its histogram (``mask``: (batch, pixels), the pixels counted)."""
    table = {"opencv": _opencv_equalize_table, "pillow": _pillow_equalize_table}[rule]
    out = np.empty_like(image)
    for b in range(image.shape[0]):
        counted = image[b] if mask is None else image[b][mask[b]]
        for c in range(image.shape[2]):
            out[b, :, c] = table(np.bincount(counted[:, c], minlength=256))[image[b, :, c]]
    return out


# --- colour ----------------------------------------------------------------

_SRGB_TO_XYZ = np.array(
    [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750], [0.0193339, 0.1191920, 0.9503041]]
)
_XYZ_TO_SRGB = np.array(
    [[3.2404542, -1.5371385, -0.4985314], [-0.9692660, 1.8760108, 0.0415560], [0.0556434, -0.2040259, 1.0572252]]
)
_WHITE = np.array([0.95047, 1.0, 1.08883])  # D65
_DELTA = 6 / 29


def _to_linear(c):
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def _to_srgb(c):
    return np.where(c <= 0.0031308, 12.92 * c, 1.055 * np.power(c, 1 / 2.4) - 0.055)


def _f(t):
    return np.where(t > _DELTA**3, np.cbrt(t), t / (3 * _DELTA**2) + 4 / 29)


def _f_inv(t):
    return np.where(t > _DELTA, t**3, 3 * _DELTA**2 * (t - 4 / 29))


def rgb_to_lab(rgb):
    """CIE L*a*b* (D65) of sRGB values in [0, 1], shape (..., 3)."""
    xyz = _to_linear(np.clip(rgb, 0, 1)) @ _SRGB_TO_XYZ.T / _WHITE
    fx, fy, fz = _f(xyz[..., 0]), _f(xyz[..., 1]), _f(xyz[..., 2])
    return np.stack([116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)], axis=-1)


def lab_to_rgb(lab):
    """sRGB in [0, 1] of CIE L*a*b* (D65), clipping out-of-gamut colours in linear light."""
    fy = (lab[..., 0] + 16) / 116
    xyz = np.stack([_f_inv(fy + lab[..., 1] / 500), _f_inv(fy), _f_inv(fy - lab[..., 2] / 200)], axis=-1) * _WHITE
    return _to_srgb(np.clip(xyz @ _XYZ_TO_SRGB.T, 0, 1))


def _quantize(x, info):
    if info.is_float:
        return x
    return np.floor(np.clip(x, info.lo, info.hi) + 0.5)


def equalize_color(image, mode, nbins=None, mask=None):
    """Equalize one RGB(A) image with channels last; see histeq.equalize's ``color``."""
    image = np.asarray(image)
    info = dtype_info(image.dtype)
    rgb = image[..., :3].astype(np.float64)
    if mode == "luma":
        if info.is_float:
            y = (0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]).astype(image.dtype)
        else:  # BT.601 with OpenCV's 14-bit fixed-point weights
            r, g, b = (image[..., c].astype(np.int64) for c in range(3))
            weighted = 4899 * r + 9617 * g + 1868 * b
            y = ((weighted + 8192) >> 14).astype(image.dtype)
        new = equalize(y, nbins, mask).astype(np.float64)
        out = _quantize(rgb + (new - y.astype(np.float64))[..., None], info)
        out = np.clip(out, info.lo, info.hi)
    elif mode == "value":
        v = image[..., :3].max(axis=-1)
        new = equalize(v, nbins, mask)
        if info.is_float:
            with np.errstate(divide="ignore", invalid="ignore"):
                scaled = rgb * (new.astype(np.float64) / v)[..., None]
        else:  # round half up, exactly
            c, nv, ov = image[..., :3].astype(np.int64), new.astype(np.int64)[..., None], v.astype(np.int64)[..., None]
            scaled = (2 * c * nv + ov) // np.maximum(2 * ov, 1)
        out = np.where((v > 0)[..., None], scaled, new[..., None].astype(np.float64))
    elif mode == "lightness":
        lab = rgb_to_lab(rgb / info.hi)
        lightness = lab[..., 0].astype(np.float32)
        new = _equalize_lightness(lightness, nbins or FLOAT_NBINS, mask)
        lab[..., 0] = new
        out = _quantize(lab_to_rgb(lab) * info.hi, info)
    else:
        raise ValueError(mode)
    result = image.copy()
    result[..., :3] = out.astype(image.dtype)
    return result


def _equalize_lightness(lightness, nbins, mask):
    """L* in [0, 100] equalized over its own range onto [0, 100] (nothing to equalize: unchanged)."""
    counted = _counted(lightness, mask)
    if counted.size == 0 or counted.min() == counted.max():
        return lightness
    return equalize(lightness, nbins, mask, out_range=(0.0, 100.0))


# --- CLAHE -----------------------------------------------------------------


def clip_threshold(hist, clip_limit):
    """(t, lift) of the clipped histogram min(h, t) + lift, or None when nothing is clipped.

    No bin may exceed c = clip_limit x the mean bin height (at least the
    mean); t <= c solves sum(max(h - t, 0)) = nbins (c - t), so the clipped
    mass lifts every bin by lift = c - t and no bin ends above c.  Found by
    Newton's method from t = c, exact on this convex piecewise-linear
    equation.  When c is the mean every bin becomes the mean: (0, mean).
    """
    hist = np.asarray(hist, dtype=np.int64)
    if clip_limit is None:
        return None
    nbins, total = hist.size, int(hist.sum())
    c = max(clip_limit * total / nbins, total / nbins)
    if not (hist > c).any():
        return None
    t = c
    above = hist > t
    while True:
        m, s = int(above.sum()), int(hist[above].sum())
        if m == nbins:
            return 0.0, total / nbins
        t = (nbins * c - s) / (nbins - m)
        now_above = hist > t
        if int(now_above.sum()) == m:
            return t, c - t
        above = now_above


def clip_histogram(hist, clip_limit):
    """The clipped histogram h' = min(h, t) + lift (float64); see clip_threshold."""
    clipped = clip_threshold(hist, clip_limit)
    hist = np.asarray(hist, dtype=np.float64)
    return hist if clipped is None else np.minimum(hist, clipped[0]) + clipped[1]


def _clipped_cumulative(hist, clip_limit):
    """F(k) = S(k) + n(k) t + (k + 1) lift: the cumulative clipped histogram sum_{j<=k} min(h_j, t) + lift.

    S(k) sums the counts h_j (j <= k) not above t, n(k) counts those above:
    integers, so only this one formula per bin rounds.
    """
    clipped = clip_threshold(hist, clip_limit)
    if clipped is None:
        return np.cumsum(np.asarray(hist, dtype=np.float64)), False
    t, lift = clipped
    hist = np.asarray(hist, dtype=np.int64)
    over = hist > t
    below_sum = np.cumsum(np.where(over, 0, hist)).astype(np.float64)
    over_count = np.cumsum(over).astype(np.float64)
    return (below_sum + over_count * t) + np.arange(1, len(hist) + 1) * lift, True


def _grouped_cumulative(hist, clip_limit, groups, first, last):
    """(F, clipped, F(first)) with the clip limit measured on groups of the bins [first, last] (see histeq.clahe).

    The bins [first, last] (S of them) form G = min(groups, S) groups, bin b in group
    floor((2 (b - first) + 1) G / 2S).  The group totals H are clipped by clip_threshold; a bin keeps
    the share min(H, t) / H of its count and the lift spreads evenly over its group's bins:

        F(b) = (S_g + n_g t + g lift) + P(b) min(H_g, t) / H_g + (b - start_g + 1) (lift / w_g)

    with S_g and n_g the totals of the groups before g not above t and their number above it, P(b) the
    counts of the group up to b, w_g its width.  F is 0 below ``first`` and the pixel count above ``last``.
    """
    hist = np.asarray(hist, dtype=np.int64)
    span = last - first + 1
    count = min(groups, span)
    group = [(2 * (b - first) + 1) * count // (2 * span) for b in range(first, last + 1)]
    sums = np.bincount(group, weights=hist[first : last + 1], minlength=count).astype(np.int64)
    clipped = clip_threshold(sums, clip_limit)
    if clipped is None:
        return np.cumsum(hist.astype(np.float64)), False, None
    t, lift = clipped
    widths = np.bincount(group, minlength=count)
    starts = first + np.concatenate([[0], np.cumsum(widths)[:-1]])
    over = sums > t
    below_before = np.concatenate([[0], np.cumsum(np.where(over, 0, sums))[:-1]])  # exact integers
    over_before = np.concatenate([[0], np.cumsum(over)[:-1]])
    base = (below_before.astype(np.float64) + over_before.astype(np.float64) * t) + np.arange(count) * lift
    share = np.ones(count)
    np.divide(t, sums.astype(np.float64), out=share, where=over)
    step = lift / widths.astype(np.float64)
    bins, g = np.arange(first, last + 1), np.array(group)
    running = np.cumsum(hist[first : last + 1])
    partial = running - (running[starts - first] - hist[starts])[g]  # the group's counts up to b
    cum = np.zeros(len(hist))
    cum[last + 1 :] = float(hist.sum())
    cum[first : last + 1] = (base[g] + partial.astype(np.float64) * share[g]) + (bins - starts[g] + 1) * step[g]
    return cum, True, cum[first]


def _tile_members(n, t, k):
    """Pixels i of tile k along an axis of n pixels and t tiles: 2kn <= (2i+1)t <= 2(k+1)n."""
    return [i for i in range(n) if 2 * k * n <= (2 * i + 1) * t <= 2 * (k + 1) * n]


def _axis_weights(n, t, i):
    """((tile, weight), (tile, weight)) of pixel i: the tile centres around it, as exact Fractions."""
    from fractions import Fraction

    u = Fraction((2 * i + 1) * t - n, 2 * n)  # position in units of tiles, 0 at the first tile's centre
    k0 = int(np.floor(u))
    if k0 < 0:
        return (0, Fraction(1)), (0, Fraction(0))
    if k0 >= t - 1:
        return (t - 1, Fraction(1)), (t - 1, Fraction(0))
    return (k0, 1 - (u - k0)), (k0 + 1, u - k0)


def clahe(image, tiles=8, clip_limit=2.0, nbins=None, mask=None, in_range=None, out_range=None):
    """CLAHE of one image whose every axis is spatial; see histeq.clahe."""
    import itertools
    from fractions import Fraction

    image = np.asarray(image)
    info = dtype_info(image.dtype)
    ndim = image.ndim
    tiles = (tiles,) * ndim if np.ndim(tiles) == 0 else tuple(tiles)
    counted = _counted(image, mask)
    if counted.size == 0:  # nothing counted anywhere: the identity rescale, as equalize
        return _rescale(image, info, in_range, out_range)
    lo, hi, nbins = _bins(info, nbins, in_range, counted)
    full_mask = np.ones(image.shape, bool) if mask is None else np.broadcast_to(mask, image.shape)
    # The clip rule: all bins (8-bit), or groups over the bins the counted values occupy.
    occupied = np.flatnonzero(_binned(image, nbins, mask, (lo, hi))[0])
    groups = (info.clip_groups, int(occupied[0]), int(occupied[-1])) if info.clip_groups else None

    # One mapping per tile, from the tile's counted pixels, over the image's bins.
    mappings = {}
    for tile in itertools.product(*(range(t) for t in tiles)):
        box = np.ix_(*(_tile_members(n, t, k) for n, t, k in zip(image.shape, tiles, tile)))
        counts, _ = _binned(image[box], nbins, full_mask[box], (lo, hi))
        mappings[tile] = _tile_mapping(counts, clip_limit, info, (lo, hi, nbins), in_range, out_range, groups)

    out = np.empty(image.shape, dtype=np.float64 if info.is_float else object)
    for index in itertools.product(*(range(n) for n in image.shape)):
        value = image[index]
        per_axis = [_axis_weights(n, t, i) for n, t, i in zip(image.shape, tiles, index)]
        if info.is_float:
            if np.isnan(value):
                out[index] = np.nan
                continue

            def nested(axis, tile):  # one axis at a time, the first outermost; called in this iteration only
                if axis == ndim:
                    return mappings[tuple(tile)](value)  # noqa: B023
                (k0, w0), (k1, w1) = per_axis[axis]  # noqa: B023
                if w1 == 0:
                    return nested(axis + 1, tile + [k0])
                return float(w0) * nested(axis + 1, tile + [k0]) + float(w1) * nested(axis + 1, tile + [k1])

            out[index] = nested(0, [])
        else:  # exact: integer levels, rational weights, halves rounded up
            total = Fraction(0)
            for choice in itertools.product((0, 1), repeat=ndim):
                weight, tile = Fraction(1), []
                for pair, c in zip(per_axis, choice):
                    weight *= pair[c][1]
                    tile.append(pair[c][0])
                if weight:
                    total += weight * mappings[tuple(tile)](value)
            out[index] = int(np.floor(total + Fraction(1, 2)))
    return out.astype(image.dtype)


def _tile_mapping(counts, clip_limit, info, bins, in_range, out_range, groups):
    """A tile's map from a value to its output: global equalization of the clipped histogram.

    Integer images get integer levels (then interpolated between tiles
    exactly); floats the piecewise-linear map of equalize.  A tile with fewer
    than two occupied bins has nothing to equalize and maps by the identity
    rescale, as equalize does.  ``groups``: None (the limit on all bins), or
    (groups, first, last) of _grouped_cumulative.
    """
    lo, hi, nbins = bins
    olo, ohi = out_range if out_range is not None else (info.lo, info.hi)
    if (counts > 0).sum() < 2:
        # .item(): a Python int for integer images, so that the interpolation stays exact.
        return lambda v: _rescale(np.array([v]), info, in_range, out_range)[0].item()
    if groups is not None and clip_limit is not None:
        cum, is_clipped, c_min = _grouped_cumulative(counts, clip_limit, *groups)
    else:
        (cum, is_clipped), c_min = _clipped_cumulative(counts, clip_limit), None
    if info.is_float:
        below = np.concatenate([[0.0], cum])
        level = olo + (ohi - olo) * (below / below[-1])
        slope = np.append(np.diff(level), 0.0)

        def mapped(v):
            x = min(max(float(v), lo), hi)
            t = float(_position(np.float64(x), lo, hi, nbins))
            k = min(int(np.floor(t)), nbins)
            return level[k] + (t - k) * slope[k]

        return mapped
    first = int(np.flatnonzero(cum)[0])
    span = float(ohi) - float(olo)
    if not is_clipped:  # exactly equalize's rule
        c_min, total = float(cum[first]), float(cum[-1])
        lut = [
            int(olo) + int(np.floor(span * (float(c) - c_min) / (total - c_min) + 0.5)) if k >= first else int(olo)
            for k, c in enumerate(cum)
        ]
    else:  # the clipped histogram still sums to the pixel count
        # Ungrouped, every bin is lifted, so bin 0 is the first occupied; grouped, the bottom of the counted
        # range is, and the bins below it map to the bottom.
        c_min = float(cum[0]) if c_min is None else c_min
        scale = span / (float(counts.sum()) - c_min)
        lut = [int(olo) + int(np.floor(max(float(c) - c_min, 0.0) * scale + 0.5)) for c in cum]
    return lambda v: lut[int(_int_bin(np.array([v]), lo, hi, nbins)[0])]


# --- matching and specification -------------------------------------------------------------------------------


def _quantile(q, fraction, value, left=False, step=False):
    """The target's value at fraction q: linear on the segment between consecutive points whose fractions hold
    q (the first and last segments extend flat).  Where fractions repeat (a gap in the target), the segment after
    the gap (right-continuous), or with ``left`` the one before it.  ``step``: no interpolation, the first value
    whose fraction reaches q (up to the rounding of the fractions)."""
    import bisect

    if len(fraction) == 1:
        return float(value[0])
    if step:
        return float(value[min(bisect.bisect_left(fraction, q - 1e-12), len(fraction) - 1)])
    # j: the last point below q (left) or at or below q (right)
    j = (bisect.bisect_left if left else bisect.bisect_right)(fraction, q) - 1
    j = min(max(j, 0), len(fraction) - 2)
    rise = fraction[j + 1] - fraction[j]
    t = (0.0 if left else 1.0) if rise == 0 else min(max((q - fraction[j]) / rise, 0.0), 1.0)
    return float(value[j] + t * (value[j + 1] - value[j]))


def _in_units(values, source, dest):
    if source.dtype == dest.dtype or (source.is_float and dest.is_float):
        return np.asarray(values, dtype=np.float64)
    scale = (dest.hi - dest.lo) / (source.hi - source.lo)
    return dest.lo + (np.asarray(values, dtype=np.float64) - source.lo) * scale


def _discrete_target(levels, counts):
    keep = np.asarray(counts) > 0
    cum = np.cumsum(np.asarray(counts, dtype=np.float64)[keep])
    return list(cum / cum[-1]), np.asarray(levels, dtype=np.float64)[keep]


def _continuous_target(edges, counts, points=None):
    """Mass spread evenly inside each bin, from the first occupied bin's lower edge to the last one's upper edge;
    a bin with a value in ``points`` (None: none) holds its mass at that value: two knots at the bin's fractions,
    both that value."""
    occupied = np.flatnonzero(counts)
    first, last = occupied[0], occupied[-1]
    cum = np.concatenate([[0.0], np.cumsum(np.asarray(counts, dtype=np.float64)[first : last + 1])])
    fraction = cum / cum[-1]
    fractions, values = [], []
    for k in range(first, last + 1):
        point = None if points is None else points.get(k)
        fractions += [fraction[k - first], fraction[k - first + 1]]
        values += [edges[k], edges[k + 1]] if point is None else [point, point]
    return fractions, np.array(values, dtype=np.float64)


def _by_level(info, counted, nbins):
    """Whether an integer image with these counted values is matched level by level: always at most 16 bits,
    32 bits when its counted values span at most nbins levels (otherwise it is binned as floats are)."""
    if info.kind == "levels":
        return True
    return info.kind == "wide" and counted.size > 0 and int(counted.max()) - int(counted.min()) + 1 <= nbins


def _reference_target(reference, reference_mask, info, nbins):
    """(fraction, value, discrete) of a reference image, in the units of images of dtype info."""
    ref_info = dtype_info(reference.dtype)
    discrete = not info.is_float  # integer images of any width take levels
    counted = _counted(reference, reference_mask)
    if counted.size == 0:
        raise ValueError("the reference has no counted pixel")
    if _by_level(ref_info, counted, nbins or FLOAT_NBINS):
        levels, counts = np.unique(counted, return_counts=True)
        return _discrete_target(_in_units(levels, ref_info, info), counts) + (True, False)
    counted = counted.astype(np.float64)
    if counted.min() == counted.max():  # all the mass at one value
        return [1.0], _in_units([counted[0]], ref_info, info), discrete, False
    lo, hi, _ = _bins(dtype_info(np.float64), None, None, counted)
    nb = nbins or FLOAT_NBINS
    bins = _float_bin(counted, _float_edges(lo, hi, nb))
    counts = np.bincount(bins, minlength=nb)
    # A bin whose counted values are all one value holds that value.
    points = {
        k: float(_in_units([counted[bins == k][0]], ref_info, info)[0])
        for k in np.flatnonzero(counts)
        if counted[bins == k].min() == counted[bins == k].max()
    }
    edges = _in_units(np.linspace(lo, hi, nb + 1), ref_info, info)
    if discrete:  # an integer image takes the bins' centres (or their one value) as its levels
        centres = [points.get(k, (edges[k] + edges[k + 1]) / 2) for k in range(nb)]
        return _discrete_target(centres, counts) + (True, False)
    return _continuous_target(edges, counts, points) + (False, False)


def _round_levels(values, info):
    return np.clip(np.floor(np.asarray(values, dtype=np.float64) + 0.5), info.lo, info.hi)


def _map_to_target(image, target, mask, nbins):
    """Quantile mapping of one image onto a (fraction, value, discrete) target; see histeq.match."""
    image = np.asarray(image)
    info = dtype_info(image.dtype)
    fraction, value, _, step = target
    counted = _counted(image, mask)
    if _by_level(info, counted, nbins or FLOAT_NBINS):
        if counted.size == 0:
            return image.copy()
        # a level's fraction: the counted pixels at or below it
        below = np.sort(counted.astype(np.int64))
        q = np.searchsorted(below, image.ravel().astype(np.int64), side="right") / below.size
        out = np.array([_quantile(f, fraction, value, step=step) for f in q]).reshape(image.shape)
        return _round_levels(out, info).astype(image.dtype)
    x = image.astype(np.float64)
    counted = _counted(x, mask)
    if counted.size == 0:
        return image.copy()
    lo, hi, nb = _bins(dtype_info(np.float64), nbins or FLOAT_NBINS, None, counted)
    counts, _ = _binned(x, nb, mask, (lo, hi))
    below = np.concatenate([[0.0], np.cumsum(counts)]) / counts.sum()
    # Q(F(x)): the target's quantile of the pixel's fraction, F linear inside each bin.  Where no knot of Q
    # lies inside a bin's fractions, Q(F) is linear on the bin: from Q at its bottom to Q just below its top.
    t = _position(np.clip(x, lo, hi), lo, hi, nb)
    out = np.full(x.shape, np.nan)
    for index in zip(*np.nonzero(~np.isnan(x))):
        k = min(int(np.floor(t[index])), nb)
        if k == nb:
            out[index] = _quantile(1.0, fraction, value)
            continue
        f0, f1 = below[k], below[k + 1]
        bottom = _quantile(f0, fraction, value)
        if not any(f0 < f < f1 for f in fraction):
            out[index] = bottom + (t[index] - k) * max(_quantile(f1, fraction, value, left=True) - bottom, 0.0)
        else:
            out[index] = _quantile(f0 + (t[index] - k) * (f1 - f0), fraction, value)
    if info.is_float:
        return out.astype(image.dtype)
    return _round_levels(out, info).astype(image.dtype)


def match(image, reference, mask=None, reference_mask=None, nbins=None):
    """Histogram matching of one image to one reference; see histeq.match."""
    info = dtype_info(np.asarray(image).dtype)
    return _map_to_target(image, _reference_target(np.asarray(reference), reference_mask, info, nbins), mask, nbins)


def _specify_target(weights, info, out_range):
    lo, hi = out_range if out_range is not None else (info.lo, info.hi)
    weights = np.asarray(weights, dtype=np.float64)
    weights = weights / weights.max()  # relative weights: the largest 1 (what underflows next to it is none)
    if info.kind == "levels":
        step = (hi - lo) / (len(weights) - 1) if len(weights) > 1 else 0.0
        levels = [np.floor(lo + j * step + 0.5) for j in range(len(weights))]
        return _discrete_target(levels, weights) + (True, True)
    return _continuous_target(np.linspace(lo, hi, len(weights) + 1), weights) + (False, False)


def specify(image, weights, mask=None, out_range=None, nbins=None):
    """Histogram specification of one image to weights over evenly spread output levels; see histeq.specify."""
    info = dtype_info(np.asarray(image).dtype)
    return _map_to_target(image, _specify_target(weights, info, out_range), mask, nbins)


# --- exact ordering ----------------------------------------------------------------------------------------------


def _shell_offsets(ndim, count=5):
    """Offsets d with |d|^2 = r^2 for the first ``count`` values r^2 = 1, 2, ... that have any, in
    itertools.product order."""
    import itertools

    shells, r2 = [], 0
    while len(shells) < count:
        r2 += 1
        reach = int(np.sqrt(r2))
        shell = [d for d in itertools.product(range(-reach, reach + 1), repeat=ndim) if sum(c * c for c in d) == r2]
        if shell:
            shells.append(shell)
    return shells


def exact_order(image):
    """(order, ties) of one image: pixel indices (raster order) sorted by value, then by the sums of the
    neighbours in each shell (image padded symmetrically; NaN neighbours and NaN sums count 0), then by index;
    NaN last.  Axes of length 1 are dropped first: they hold no neighbours.
    ties: pixels whose value and shell sums all equal the previous pixel's in that order."""
    image = np.asarray(image)
    image = image.reshape(tuple(n for n in image.shape if n > 1) or (image.size,))
    floats = image.dtype.kind == "f"
    values = image.astype(np.float64) if floats else image.astype(np.int64)
    shells = _shell_offsets(image.ndim)
    pad = max(abs(c) for shell in shells for d in shell for c in d)
    padded = np.pad(values, pad, mode="symmetric")
    if floats:
        padded = np.nan_to_num(padded, nan=0.0, posinf=np.inf, neginf=-np.inf)
    keys = [values.ravel()]
    for shell in shells:
        total = np.zeros(values.shape, dtype=values.dtype)
        for d in shell:
            window = tuple(slice(pad + c, pad + c + n) for c, n in zip(d, values.shape))
            with np.errstate(invalid="ignore"):  # inf - inf: NaN, counted as 0 below
                total = total + padded[window]
        if floats:
            total = np.where(np.isnan(total), 0.0, total)  # inf - inf
        keys.append(total.ravel())
    index = np.arange(values.size)
    order = np.lexsort([index] + keys[::-1])
    sorted_keys = np.stack([k[order] for k in keys])
    same = np.all(sorted_keys[:, 1:] == sorted_keys[:, :-1], axis=0)
    if floats:
        same &= ~np.isnan(sorted_keys[0, 1:])
    return order, int(same.sum())


def exact_values(image, by_rank, mask=None, uncounted=None, ends=None, one_level=False):
    """Exact specification of one image: the counted pixel of rank r (in exact_order) gets by_rank(n)[r], n the
    number of counted pixels (NaN and infinite values are not counted); an uncounted pixel gets the value of the
    next counted pixel in the order (the highest value when none follows), except that NaN stays NaN and -inf
    and +inf take the target's ``ends`` (lo, hi).  With no counted pixel, or with ``one_level`` (equalize) when
    the counted pixels all have one value: ``uncounted(image)``, by default the image itself."""
    image = np.asarray(image)
    order, _ = exact_order(image)
    flat = image.ravel()
    counted = np.ones(flat.size, dtype=bool) if mask is None else np.broadcast_to(mask, image.shape).ravel().copy()
    if image.dtype.kind == "f":
        counted &= np.isfinite(flat)
    n = int(counted.sum())
    if n == 0 or (one_level and len(set(flat[counted].tolist())) == 1):
        return image.copy() if uncounted is None else uncounted(image)
    values = by_rank(n)
    out = np.empty(flat.size, dtype=np.float64)
    seen = 0
    for i in order:
        out[i] = values[min(seen, n - 1)]
        seen += bool(counted[i])
    if image.dtype.kind == "f":
        out[flat == -np.inf], out[flat == np.inf] = ends
        out[np.isnan(flat)] = np.nan
    return out.reshape(image.shape).astype(image.dtype)
