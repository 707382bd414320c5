"""The before/after figures with histograms: ``--report``, ``histeq report`` and ``histeq demo``."""

from __future__ import annotations

from pathlib import Path


def _write_report(
    path: Path, original, result, channel_axis, axes=None, titles=("original", "equalized"), value_range=None, mask=None
) -> None:
    """Write the before/after figure of one image (see _report_figure) atomically; run it in _write, which
    names ``path`` in its errors, not the temporary file."""
    figure = _report_figure(original, result, channel_axis, axes, titles, value_range, mask)
    _save_figure(figure, path)


def _save_figure(figure, path: Path) -> None:
    from ..io import atomic_writer

    with atomic_writer(path) as f:
        figure.savefig(f, format=path.suffix.lstrip(".").lower() or "png", dpi=100)


def _report_figure(
    original, result, channel_axis, axes=None, titles=("original", "equalized"), value_range=None, mask=None
):
    """The before/after figure of one image; a contact sheet of a sample for a batch (``axes``).  Without a
    result (None), the original's global equalization is drawn, of the histogram of the pixels in ``mask``
    (all: None).  ``value_range``: the values both are shown over (a DICOM image's stored range), which the
    equalization maps into too."""
    import numpy as np

    from .. import equalize
    from ..plot import before_after, contact_sheet

    if result is None:
        result = equalize(
            original,
            channel_axis=channel_axis,
            axes=axes,
            mask=mask,
            out_range=value_range if channel_axis is None else None,
        )
        titles = (titles[0], "equalized")
    spatial = original.ndim - (channel_axis is not None)
    if axes is not None and spatial > 2:
        figure = contact_sheet(original, result, axes=axes, channel_axis=channel_axis, titles=titles)
    elif spatial == 2:
        figure = before_after(original, result, channel_axis=channel_axis, titles=titles, value_range=value_range)
    elif spatial == 3:  # a stack: its middle slice
        index = [slice(None)] * original.ndim
        index[0] = original.shape[0] // 2
        figure = before_after(
            original[tuple(index)],
            result[tuple(index)],
            channel_axis=None if channel_axis is None else channel_axis - (channel_axis > 0),
            titles=(f"{titles[0]} (slice {original.shape[0] // 2})", titles[1]),
            value_range=value_range,
        )
    else:
        raise ValueError(
            f"a report draws 2-D images, stacks or batches (--axes); this one has shape {np.shape(original)}"
        )
    return figure
