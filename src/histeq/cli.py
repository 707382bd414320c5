"""The ``histeq`` command line.

    histeq equalize IN OUT [options]     equalize one image or array file
    histeq demo [-o DIR]                 run on the bundled sample, write a figure

Exit codes: 0 success, 1 a file could not be processed, 2 usage error (bad
options), 130 interrupted.  Outputs are written atomically; the input is never
overwritten, and an existing output only with ``--overwrite``.  Heavy imports
(NumPy, the core, Pillow, matplotlib) happen only once a command runs, so that
``--help`` and start-up stay fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

_EXAMPLES = """\
examples:
  histeq equalize photo.jpg photo_eq.jpg                 # colour: CIELAB lightness
  histeq equalize photo.png out.png --color luma          # as OpenCV's YCrCb recipe
  histeq equalize scan16.tif scan16_eq.tif                # 16-bit, 65536 bins
  histeq equalize batch.npy out.npy --axes -2 -1          # (1800, 1, 96, 96): each image alone
  histeq equalize cells.png out.png --mask roi.png --report figure.png
  histeq demo                                             # writes histeq-demo/
"""


class _UsageError(Exception):
    """A bad option detected after parsing: reported like argparse's own errors."""


class _FileError(Exception):
    """A file that could not be processed; the message names it."""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("histeq")
    except PackageNotFoundError:  # pragma: no cover - only in an uninstalled tree
        return "unknown"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histeq",
        description="Histogram equalization of images and arrays.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"histeq {_version()}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    eq = commands.add_parser(
        "equalize",
        help="global histogram equalization of one file",
        description="Global histogram equalization of one image (PNG, JPEG, TIFF; 8/16 bit; grey, RGB, RGBA) "
        "or NumPy .npy array.  The output keeps the input's dtype and shape; its format follows OUT's suffix.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    eq.add_argument("input", metavar="IN", type=Path, help="image or .npy file")
    eq.add_argument("output", metavar="OUT", type=Path, help="output file (.png, .jpg, .tif, .npy)")
    eq.add_argument("--nbins", type=int, help="histogram bins (default: one per level up to 16 bits, 4096 for floats)")
    eq.add_argument("--color", choices=("lightness", "luma", "value", "per-channel"),
                    help="what to equalize in a colour image (default: lightness)")
    eq.add_argument("--compat", choices=("opencv", "pillow", "skimage"),
                    help="reproduce a peer library's result (compat='skimage' writes floats: use .npy or .tif)")
    eq.add_argument("--mask", type=Path, metavar="FILE",
                    help="image or .npy of the input's size; only its non-zero pixels feed the histogram")
    eq.add_argument("--axes", type=int, nargs="+", metavar="AXIS",
                    help="spatial axes of one image of a .npy batch, e.g. --axes -2 -1")
    eq.add_argument("--channel-axis", type=int, metavar="AXIS",
                    help="colour axis of a .npy array (image files: found from the format)")
    eq.add_argument("--in-range", type=float, nargs=2, metavar=("LO", "HI"), help="range the histogram covers")
    eq.add_argument("--out-range", type=float, nargs=2, metavar=("LO", "HI"), help="range of the output")
    eq.add_argument("--threads", type=int, help="threads (default: all cores)")
    eq.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    eq.add_argument("--report", type=Path, metavar="FIG",
                    help="also write a before/after figure with histograms (.png, .pdf, .svg)")

    demo = commands.add_parser(
        "demo",
        help="equalize the bundled sample image and draw the before/after figure",
        description="Equalize the sample image shipped with histeq (a synthetic low-contrast micrograph) and "
        "write the result and a before/after figure with histograms and cumulative distributions.",
    )
    demo.add_argument("-o", "--output-dir", type=Path, default=Path("histeq-demo"), metavar="DIR",
                      help="folder for the results (default: ./histeq-demo)")
    return parser


def _range(values):
    if values is None:
        return None
    lo, hi = values
    return (int(lo), int(hi)) if lo.is_integer() and hi.is_integer() else (lo, hi)


def _read(path: Path):
    """The file's array; any failure becomes one line that names the file."""
    from . import io

    try:
        return io.read_image(path)
    except Exception as exc:  # noqa: BLE001 - decoders raise anything on a corrupt file
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise _FileError(f"cannot read {path}: {reason}") from exc


def _read_mask(path: Path, shape: tuple[int, ...]):
    mask = _read(path)
    if mask.dtype != bool:
        mask = mask != 0
    if mask.shape != shape:
        raise ValueError(f"mask {path} has shape {mask.shape}, the image (without channels) has {shape}")
    return mask


def _equalize(args) -> int:
    from . import io
    from .equalize import equalize

    source, target = args.input, args.output
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise _UsageError(f"OUT is the input file {source}; histeq never overwrites its input")
    if target.exists() and not args.overwrite:
        raise _UsageError(f"{target} exists; pass --overwrite to replace it")
    for suffix_of in (source, target):
        if suffix_of.suffix.lower() not in io.SUFFIXES:
            raise _UsageError(f"{suffix_of}: unsupported file type; supported: {', '.join(io.SUFFIXES)}")

    image = _read(source)
    channel_axis = args.channel_axis
    if channel_axis is None and io.is_color_file(source, image):
        channel_axis = -1
    kwargs = dict(nbins=args.nbins, color=args.color, compat=args.compat, axes=args.axes,
                  channel_axis=channel_axis, in_range=_range(args.in_range), out_range=_range(args.out_range),
                  threads=args.threads)
    if channel_axis is None and args.color is not None:
        raise _UsageError(f"--color {args.color} needs a colour image ({source} has shape {image.shape})")
    if args.mask is not None:
        grey_shape = image.shape if channel_axis is None else tuple(
            n for a, n in enumerate(image.shape) if a != channel_axis % image.ndim)
        kwargs["mask"] = _read_mask(args.mask, grey_shape)
    result = equalize(image, **kwargs)
    io.write_image(target, result)
    print(f"{source} -> {target}")
    if args.report is not None:
        _write_report(args.report, image, result, channel_axis)
        print(f"report: {args.report}")
    return EXIT_OK


def _write_report(path: Path, original, result, channel_axis) -> None:
    from .io import atomic_writer
    from .plot import before_after

    if original.ndim - (channel_axis is not None) != 2:
        raise ValueError(f"--report draws 2-D images; this one has shape {original.shape}")
    figure = before_after(original, result, channel_axis=channel_axis)
    with atomic_writer(path) as f:
        figure.savefig(f, format=path.suffix.lstrip(".").lower() or "png", dpi=100)


def _demo(args) -> int:
    from importlib.resources import as_file, files

    from . import io
    from .equalize import equalize

    with as_file(files("histeq") / "data" / "sample.png") as sample:
        image = _read(sample)
    result = equalize(image)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    io.write_image(args.output_dir / "sample.png", image)
    io.write_image(args.output_dir / "sample_equalized.png", result)
    figure = args.output_dir / "before_after.png"
    _write_report(figure, image, result, None)
    print(f"sample: levels {image.min()}..{image.max()} -> equalized: levels {result.min()}..{result.max()}")
    for name in ("sample.png", "sample_equalized.png", "before_after.png"):
        print(f"wrote {args.output_dir / name}")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    run = {"equalize": _equalize, "demo": _demo}[args.command]
    try:
        return run(args)
    except _UsageError as exc:
        parser.print_usage(sys.stderr)
        print(f"histeq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("histeq: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (_FileError, OSError, ValueError, TypeError, ImportError) as exc:
        print(f"histeq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
