"""Which files a command-line run reads and writes: inputs found, outputs and reports named, all checked
before any file is read or written.

Standard library only, so that ``histeq --help`` and start-up stay fast.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path
from typing import NamedTuple

# Kept in step with histeq.io.SUFFIXES, which is not imported here to keep start-up light.
SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".npy", ".npz", ".dcm", ".zarr")
FORMATS = {
    "png": ".png",
    "jpeg": ".jpg",
    "jpg": ".jpg",
    "tiff": ".tif",
    "tif": ".tif",
    "npy": ".npy",
    "npz": ".npz",
    "dicom": ".dcm",
    "zarr": ".zarr",
}
_SAME_FORMAT = {".jpeg": ".jpg", ".tiff": ".tif"}


class UsageError(Exception):
    """A bad option or file list: reported like argparse's own errors, before any file is touched."""


class Planned(NamedTuple):
    """One input, where its result goes, and where its report goes (None: no report)."""

    source: Path
    target: Path
    report: Path | None


class Found(NamedTuple):
    """Inputs (file, path relative to its input folder or None) and what was passed over, to say so."""

    files: list
    skipped_folders: list


def _is_folder(path: Path) -> bool:
    return path.is_dir() and path.suffix.lower() != ".zarr"


def expand(inputs: list[Path], recursive: bool) -> Found:
    """Every input file, in order, without repeats."""
    found: list[tuple[Path, Path | None]] = []
    skipped: list[Path] = []
    for item in inputs:
        text = str(item)
        if _is_folder(item):
            pattern = "**/*" if recursive else "*"
            files = sorted(
                p
                for p in item.glob(pattern)
                if p.is_file()
                and p.suffix.lower() in SUFFIXES
                and not any(part.startswith(".") for part in p.relative_to(item).parts)
            )
            found += [(p, p.relative_to(item)) for p in files]
            if not recursive:
                skipped += sorted(p for p in item.iterdir() if _is_folder(p) and not p.name.startswith("."))
        elif not item.exists() and glob.has_magic(text):
            matches = sorted(Path(p) for p in glob.glob(text, recursive=recursive))
            if not matches:
                raise UsageError(f"no file matches {text}")
            found += [(p, None) for p in matches if p.is_file() or p.suffix.lower() == ".zarr"]
        else:  # a missing file fails on its own, as a corrupt one does
            require_regular(item)
            found.append((item, None))
    seen, unique = set(), []
    for path, rel in found:
        key = os.path.abspath(path)
        if key not in seen:
            seen.add(key)
            unique.append((path, rel))
    if not unique:
        raise UsageError("no input files (folders are searched for " + ", ".join(SUFFIXES) + ")")
    return Found(unique, skipped)


def require_regular(path: Path) -> None:
    """A FIFO, device or socket would block a read, or never end: only regular files (and Zarr folders)."""
    if path.exists() and not path.is_file() and not path.is_dir():
        raise UsageError(
            f"{path}: not a regular file (a FIFO, device or socket); histeq reads regular files, "
            "folders and Zarr stores"
        )


def _same_format(a: str, b: str) -> bool:
    return _SAME_FORMAT.get(a.lower(), a.lower()) == _SAME_FORMAT.get(b.lower(), b.lower())


def plan(args, output: str | None) -> tuple[list[Planned], Found]:
    """Every (input, output, report) of a run, checked: placements, names, formats, existing files (one rule
    for outputs and reports: replaced only with --overwrite), and no two results written to one file.
    ``output``: -o as typed (a trailing separator means a folder)."""
    inputs = list(args.inputs)
    placements = sum(x is not None and x is not False for x in (output, args.suffix, args.in_place))
    if placements == 0 and len(inputs) == 2 and not _is_folder(inputs[0]) and not glob.has_magic(str(inputs[0])):
        inputs, output = inputs[:1], str(inputs[1])  # histeq METHOD IN OUT
        placements = 1
    if placements != 1:
        raise UsageError("say where results go: -o OUT, --suffix S or --in-place (exactly one)")
    found = expand(inputs, args.recursive)
    files = found.files
    single = len(files) == 1 and files[0][1] is None
    out_dir = None if output is None else Path(output)
    to_folder = out_dir is not None and (not single or _is_folder(out_dir) or output.endswith(("/", os.sep)))
    new_suffix = FORMATS[args.format] if args.format else None
    if (
        out_dir is not None
        and not to_folder
        and new_suffix
        and out_dir.suffix
        and not _same_format(out_dir.suffix, new_suffix)
    ):
        raise UsageError(
            f"-o {output} names a {out_dir.suffix} file but --format is {args.format}; give one of them, or agree"
        )

    def target_of(path: Path, rel: Path | None) -> Path:
        suffix = new_suffix or path.suffix
        if args.in_place:
            return path if new_suffix is None else path.with_suffix(new_suffix)
        if args.suffix is not None:
            return path.with_name(path.stem + args.suffix + suffix)
        if not to_folder:
            return out_dir if out_dir.suffix or new_suffix is None else out_dir.with_suffix(new_suffix)
        return (out_dir / (rel if rel is not None else Path(path.name))).with_suffix(suffix)

    targets = [target_of(path, rel) for path, rel in files]
    # Results of this run's naming are not inputs of it (a glob re-run with --suffix --overwrite).
    produced = {
        os.path.abspath(t) for (path, _), t in zip(files, targets) if os.path.abspath(t) != os.path.abspath(path)
    }
    kept = [i for i, (path, _) in enumerate(files) if os.path.abspath(path) not in produced]
    files, targets = [files[i] for i in kept], [targets[i] for i in kept]
    planned = [
        Planned(path, target, _report_of(args, path, rel, len(files))) for (path, rel), target in zip(files, targets)
    ]
    _check(planned, args)
    return planned, Found(files, found.skipped_folders)


def _report_of(args, path: Path, rel: Path | None, count: int) -> Path | None:
    """--report FIG for one input; for many (or a folder), FOLDER/<the input's place>_report.png, mirroring
    the input tree as outputs do."""
    report = getattr(args, "report", None)
    if report is None:
        return None
    if count == 1 and not _is_folder(report):
        return report
    place = rel if rel is not None else Path(path.name)
    return report / place.with_name(place.stem + "_report.png")


def _check(planned: list[Planned], args) -> None:
    for item in planned:
        for name in (item.source, item.target):
            if name.suffix.lower() not in SUFFIXES:
                raise UsageError(f"{name}: unsupported file type; supported: {', '.join(SUFFIXES)}")
        if not item.source.exists():
            continue  # its own failure says so, not that its output exists
        same = item.target.exists() and item.target.resolve() == item.source.resolve()
        if same and not args.in_place:
            raise UsageError(
                f"the output for {item.source} is the input itself; histeq never overwrites its input unless --in-place"
            )
        for written in (item.target, item.report):
            if (
                written is not None
                and written.exists()
                and not (written == item.target and same)
                and not args.overwrite
            ):
                raise UsageError(f"{written} exists; pass --overwrite to replace it")
    written = [os.path.abspath(p) for item in planned for p in (item.target, item.report) if p is not None]
    if len(set(written)) != len(written):
        raise UsageError(
            "two results would be written to the same output file; use -o DIR (and --report DIR) with "
            "folders, or --suffix"
        )
