"""Saved mappings (``.npz``: a JSON header and arrays, no pickle) read back as the foreign input a file is.

Every field is checked for its type, every size against the arrays the file
holds, before anything is computed or allocated from them; anything else is a
ValueError naming the field.
"""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os
import zipfile
import zlib

import numpy as np

from histeq._kernels import DTYPE_NAMES, DtypeInfo, dtype_info

#: A header is a few hundred bytes; a larger one is not ours.
_HEADER_CHARS = 1 << 16


class Checked:
    """Checks of one file's fields, each raising a ValueError that names the file and the field."""

    def __init__(self, path, header: dict, arrays: dict):
        self.path, self.header, self.arrays = path, header, arrays

    def fail(self, field: str, why: str):
        raise ValueError(f"{self.path}: not a valid histeq mapping file: {field} {why}")

    def number(self, field: str, integer: bool = False, low: float = -math.inf, high: float = math.inf):
        value = self.header[field]
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            self.fail(field, f"must be a finite number, got {value!r}")
        if integer and value != int(value):
            self.fail(field, f"must be an integer, got {value!r}")
        if not low <= value <= high:
            self.fail(field, f"must lie in [{low}, {high}], got {value!r}")
        return int(value) if integer else float(value)

    def ints(self, field: str, low: int, high: int, max_count: int) -> tuple:
        value = self.header[field]
        if (
            not isinstance(value, list)
            or not 1 <= len(value) <= max_count
            or not all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value)
        ):
            self.fail(field, f"must be 1 to {max_count} integers in [{low}, {high}], got {value!r}")
        return tuple(value)

    def choice(self, field: str, options) -> str:
        value = self.header[field]
        if not isinstance(value, str) or value not in options:
            self.fail(field, f"must be one of {', '.join(map(str, options))}, got {value!r}")
        return value

    def dtype(self, field: str = "dtype") -> DtypeInfo:
        """The dtype table's entry of a dtype name."""
        return dtype_info(self.choice(field, DTYPE_NAMES))

    def range(self, low: str, high: str) -> tuple[float, float]:
        lo, hi = self.number(low), self.number(high)
        if not lo < hi:
            self.fail(f"{low}, {high}", f"must have {low} < {high}, got {lo}, {hi}")
        return lo, hi

    def array(self, name: str, shape: tuple, kinds: str, finite: bool = True) -> np.ndarray:
        value = self.arrays[name]
        if value.dtype.kind not in kinds or value.shape != shape:
            self.fail(name, f"must be an array of shape {shape} ({kinds}), got {value.dtype} {value.shape}")
        if finite and value.dtype.kind == "f" and not np.isfinite(value).all():
            self.fail(name, "must hold finite values")
        return value


def _member(path, archive, name: str) -> np.ndarray:
    """One array of the file.  A pickle is never run: with allow_pickle=False NumPy refuses an object array with
    a ValueError that names no member, and gives a member that is not a .npy file back as its raw bytes."""
    try:
        value = archive[name]
    except ValueError as exc:
        raise ValueError(
            f"{path}: not a valid histeq mapping file: {name} must be a .npy array of numbers or "
            f"text, got one NumPy reads only by unpickling, or not at all ({exc})"
        ) from None
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(
            f"{path}: not a valid histeq mapping file: {name} must be a .npy array, got a damaged member ({exc})"
        ) from None
    if not isinstance(value, np.ndarray):
        raise ValueError(
            f"{path}: not a valid histeq mapping file: {name} must be a .npy array, got "
            f"{len(value)} bytes of something else (a pickle, say), left unread"
        )
    return value


def read(path, fields: tuple[str, ...], arrays: tuple[str, ...]) -> Checked:
    """The header (exactly ``fields``) and ``arrays`` of a saved mapping, for the class's own checks."""
    try:
        # Opened here, not by np.load, which leaves its file open when the zip directory is unreadable.
        opened = open(path, "rb") if isinstance(path, (str, os.PathLike)) else contextlib.nullcontext(path)
        with opened as file:
            try:
                archive = np.load(file, allow_pickle=False)
            except ValueError as exc:  # a whole file that is a pickle, refused (not run) without its name
                raise ValueError(f"{path}: not a readable .npz file ({exc})") from None
            if isinstance(archive, np.ndarray):
                raise ValueError(
                    f"{path}: not a valid histeq mapping file: expected a .npz archive, got a .npy "
                    f"array of shape {archive.shape}"
                )
            with archive:
                missing = {"header", *arrays} - set(archive.files)
                if missing:
                    raise ValueError(f"{path}: not a valid histeq mapping file: {', '.join(sorted(missing))} missing")
                text = _member(path, archive, "header")
                loaded = {name: _member(path, archive, name) for name in arrays}
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable .npz file ({exc})") from exc
    if text.dtype.kind != "U" or text.shape != () or len(str(text)) > _HEADER_CHARS:
        raise ValueError(f"{path}: not a valid histeq mapping file: header must be a short JSON text")
    try:
        header = json.loads(str(text))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"{path}: not a valid histeq mapping file: header is not JSON ({exc})") from None
    if not isinstance(header, dict) or set(header) != set(fields):
        found = sorted(header) if isinstance(header, dict) else type(header).__name__
        raise ValueError(f"{path}: not a valid histeq mapping file: header must hold {', '.join(fields)}, got {found}")
    return Checked(path, header, loaded)
