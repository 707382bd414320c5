"""The commands, and :func:`main`, which parses the command line and runs one: a method over files (with
progress and a summary), ``report`` or ``demo``; an error becomes an exit code.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from ._figures import _report_figure, _save_figure, _write_report
from ._files import UsageError, plan
from ._job import _Job, _one, _start_worker
from ._parser import _commands, _parse, _parser
from ._read_write import _channel_axis, _FileError, _read_one, _write

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class _Progress:
    """Progress on a terminal's stderr, silent otherwise: a tqdm bar (rate and time left) where tqdm is
    installed and there is more than one file, else a one-line [n/N] counter."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done = total, 0
        self.enabled = enabled and sys.stderr.isatty()
        self.bar = None
        if self.enabled and total > 1 and importlib.util.find_spec("tqdm") is not None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, file=sys.stderr, unit="file", dynamic_ncols=True)

    def step(self, name: str) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix_str(name[-40:], refresh=False)
            self.bar.update(1)
        elif self.enabled:
            sys.stderr.write(f"\r[{self.done}/{self.total}] {name[-60:]:<60}")
            sys.stderr.flush()

    def message(self, text: str) -> None:
        """A line on stderr, above the progress line."""
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            sys.stderr.write(("\n" if self.enabled else "") + text + "\n")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled:
            sys.stderr.write("\n")


def _method(args) -> int:
    from functools import partial

    from . import _workers

    pairs, found = plan(args, args.output)
    job = _Job(args, len(pairs))
    if found.skipped_folders and not (args.quiet or args.json):
        names = ", ".join(str(p) for p in found.skipped_folders[:3]) + (
            ", ..." if len(found.skipped_folders) > 3 else ""
        )
        print(
            f"histeq {args.command}: note: {len(found.skipped_folders)} subfolder(s) skipped ({names}); "
            "pass -r to include them",
            file=sys.stderr,
        )
    start = time.perf_counter()
    results, failed = [], 0
    progress = _Progress(len(pairs), not (args.quiet or args.json))
    pool = _workers.pool(job.jobs, len(pairs), _start_worker, (job,))
    run_one = partial(_one, job=job) if isinstance(pool, ThreadPoolExecutor) else _one
    notes: set = set()
    for result in _workers.run_all(pool, run_one, pairs):
        results.append(result)
        progress.step(result["input"])
        if result.get("note") and result["note"] not in notes and not (args.quiet or args.json):
            notes.add(result["note"])
            progress.message(f"histeq {args.command}: note: {result['note']}")
        if result["status"] == "failed":
            failed += 1
            if not args.json:
                progress.message(f"histeq {args.command}: error: {result['error']}")
        elif not (args.quiet or args.json) and len(pairs) == 1:
            print(f"{result['input']} -> {result['output']}")
    progress.close()
    seconds = time.perf_counter() - start
    if args.json:
        print(
            json.dumps(
                {
                    "command": args.command,
                    "done": len(pairs) - failed,
                    "failed": failed,
                    "seconds": round(seconds, 3),
                    "files": results,
                },
                indent=1,
            )
        )
    elif not args.quiet and (len(pairs) > 1 or failed):
        print(f"histeq {args.command}: {len(pairs) - failed} done, {failed} failed, {seconds:.1f} s", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def _report(args) -> int:
    target = args.output or args.input.with_name(args.input.stem + "_report.png")
    if target.exists() and not args.overwrite:
        raise UsageError(f"{target} exists; pass --overwrite to replace it")
    image = _read_one(args.input, "IN")
    channel_axis = _channel_axis(args.channel_axis, args.input, image)
    mask = None
    if args.mask is not None:
        mask = _read_one(args.mask, "--mask") != 0
        grey = (
            image.shape
            if channel_axis is None
            else tuple(n for a, n in enumerate(image.shape) if a != channel_axis % image.ndim)
        )
        if mask.shape != grey:
            raise UsageError(f"--mask {args.mask} has shape {mask.shape}; {args.input} (without channels) has {grey}")
    value_range = None
    if args.input.suffix.lower() == ".dcm":
        from ..io import _dicom

        value_range = _dicom.stored_range(image)
    figure = _report_figure(image, None, channel_axis, args.axes, value_range=value_range, mask=mask)
    _write(target, lambda: _save_figure(figure, target))
    print(f"report: {target}")
    return EXIT_OK


def _demo(args) -> int:
    from functools import partial
    from importlib.resources import as_file, files

    from .. import equalize, io

    with as_file(files("histeq") / "data" / "sample.png") as sample:
        image = _read_one(sample)
    result = equalize(image)
    # Through _write, as every output: an error names the file asked for, not its temporary file.
    for name, array in (("sample.png", image), ("sample_equalized.png", result)):
        _write(args.output_dir / name, partial(io.write_image, args.output_dir / name, array))
    figure = args.output_dir / "before_after.png"
    _write(figure, lambda: _write_report(figure, image, result, None))
    print(f"sample: levels {image.min()}..{image.max()} -> equalized: levels {result.min()}..{result.max()}")
    for name in ("sample.png", "sample_equalized.png", "before_after.png"):
        print(f"wrote {args.output_dir / name}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = _parse(parser, sys.argv[1:] if argv is None else list(argv))
    run = {"report": _report, "demo": _demo}.get(args.command, _method)
    from . import _workers

    try:
        with _workers.sigterm_raises():
            return run(args)
    except _workers.Terminated:
        print("histeq: terminated", file=sys.stderr)
        return _workers.EXIT_TERMINATED
    except UsageError as exc:
        _commands(parser)[args.command].print_usage(sys.stderr)
        print(f"histeq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("histeq: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (_FileError, OSError, ValueError, TypeError, ImportError) as exc:
        print(f"histeq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
