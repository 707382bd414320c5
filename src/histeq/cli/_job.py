"""One run's work: each file processed in memory or chunk by chunk, in the threads or processes of
``_workers``.
"""

from __future__ import annotations

import os
from pathlib import Path

from ._figures import _write_report
from ._files import Planned
from ._options import _Options
from ._read_write import (
    _channel_axis,
    _FileError,
    _open_lazy,
    _read,
    _reason,
    _too_big_for_memory,
    _write,
    _write_zarr,
)


class _Job:
    """A run over many files: how many at once, and one file processed in memory or chunk by chunk."""

    def __init__(self, args, files: int):
        self.args = args
        self.method = args.command
        jobs = args.jobs or min(os.cpu_count() or 1, files)
        self.jobs = max(1, min(jobs, files))
        # Several files at once: one thread each, unless asked.
        self.options = _Options(args, args.threads if args.threads else (1 if self.jobs > 1 else None))

    def run(self, item: Planned) -> dict:
        """Process one file; raises _FileError with one line naming it."""
        path, target = item.source, item.target
        if (
            path.suffix.lower() == ".zarr"
            or target.suffix.lower() == ".zarr"
            or self.args.dask
            or (self.args.report is None and _too_big_for_memory(path))
        ):
            return self._run_chunked(path, target)
        import histeq

        from .. import io

        arrays, meta = _read(path)
        method = getattr(histeq, self.method)
        results, channel_axes, value_range, note = {}, {}, None, None
        for name, image in arrays.items():
            channel_axes[name] = channel_axis = _channel_axis(self.args.channel_axis, path, image)
            kwargs = self.options.kwargs(path, image, channel_axis, stored="dicom" in meta, meta=meta)
            note = note or self.options.grey_note(channel_axis)
            try:
                out = method(image, **kwargs)
            except (ValueError, TypeError) as exc:
                raise _FileError(f"{path}: {exc}") from exc
            value_range = kwargs.get("out_range")
            results[name] = self.options.convert(out, value_range)
        meta["operation"] = self.options.operation()
        _write(target, lambda: io.write_file(target, results, meta))
        if item.report is not None:
            first = next(iter(arrays))
            image, out = arrays[first], results[first]
            _write(
                item.report,
                lambda: _write_report(
                    item.report,
                    image,
                    out if out.dtype == image.dtype else None,
                    channel_axes[first],
                    self.args.axes,
                    titles=("original", _DONE[self.method]),
                    value_range=value_range if "dicom" in meta else None,
                    mask=self.options.mask,
                ),
            )
        return {"input": str(path), "output": str(target), "status": "ok", **({"note": note} if note else {})}

    def _run_chunked(self, path: Path, target: Path) -> dict:
        """Zarr stores and --dask: the input opened lazily (Zarr, TIFF tiles/strips, else in memory), the
        method's chunked path, a .zarr or .tif output written chunk by chunk (other formats are computed, then
        written)."""
        if self.args.report is not None:
            raise _FileError(f"{path}: --report draws in-memory images; not with chunked (Dask, .zarr) processing")
        opened: list = []
        try:
            return self._chunked(path, target, opened)
        finally:
            for store in opened:
                store.close()

    def _chunked(self, path: Path, target: Path, opened: list) -> dict:
        import histeq

        from .. import io

        try:
            image, meta = _open_lazy(path, opened)
        except Exception as exc:  # noqa: BLE001 - decoders raise anything on a corrupt file
            raise _FileError(f"cannot read {path}: {_reason(exc)}") from exc
        channel_axis = _channel_axis(self.args.channel_axis, path, image)
        try:
            kwargs = self.options.kwargs(path, image, channel_axis, meta=meta)
            out = getattr(histeq, self.method)(image, **kwargs)
        except (ValueError, TypeError) as exc:
            raise _FileError(f"{path}: {exc}") from exc
        if self.args.dtype is not None:
            out = out.map_blocks(self.options.convert, dtype=self.args.dtype)

        def write():
            if target.suffix.lower() == ".zarr":
                _write_zarr(out, target, meta, self.options.spatial_sizes(image, channel_axis, kwargs, meta))
            elif target.suffix.lower() in (".tif", ".tiff"):
                io.write_tiff_chunked(target, out)
            else:
                io.write_file(target, {"image": out.compute()})

        _write(target, write)
        note = self.options.grey_note(channel_axis)
        return {"input": str(path), "output": str(target), "status": "ok", **({"note": note} if note else {})}


#: Report titles of each method's result.
_DONE = {"equalize": "equalized", "clahe": "CLAHE", "match": "matched", "specify": "specified"}


_WORKER_JOB: _Job | None = None


def _start_worker(job: _Job) -> None:
    global _WORKER_JOB
    _WORKER_JOB = job


def _one(item: Planned, job: _Job | None = None) -> dict:
    job = job or _WORKER_JOB
    source, target = item.source, item.target
    try:
        return job.run(item)
    except _FileError as exc:
        return {"input": str(source), "output": str(target), "status": "failed", "error": str(exc)}
    except OSError as exc:
        return {"input": str(source), "output": str(target), "status": "failed", "error": f"{target}: {_reason(exc)}"}
