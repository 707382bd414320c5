"""The command line's parser: the commands, their options and help, and hints for mistyped options.

Standard library only, so that ``histeq --help`` and start-up stay fast.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from ._files import FORMATS

METHODS = ("equalize", "clahe", "match", "specify")


_EXAMPLES = """\
examples:
  histeq equalize photo.jpg photo_eq.jpg                  # colour: CIELAB lightness
  histeq equalize photos/ -o out/ -r --jobs 2             # a folder tree, mirrored into out/
  histeq equalize '*.png' --suffix _eq --color luma       # as OpenCV's YCrCb recipe, next to each input
  histeq clahe scan16.tif -o scan16_clahe.tif --tiles 8 --clip-limit 2
  histeq clahe stack.tif -o stack_clahe.tif               # a multi-page TIFF: CLAHE over the volume
  histeq match day.png -o matched.png --reference night.png --color lightness
  histeq specify cells.png -o out.png --histogram rayleigh --exact
  histeq equalize batch.npy -o out.npy --axes -2 -1       # (1800, 1, 96, 96): each image alone
  histeq equalize scene.zarr -o scene_eq.zarr             # larger than memory: chunk by chunk (Dask)
  histeq clahe big.tif -o big_clahe.tif --dask             # tiles read, and the output written, chunk by chunk
  histeq equalize cells.png -o out.png --mask roi.png --report figure.png
  histeq report scan.tif -o scan_report.pdf
  histeq demo                                             # writes histeq-demo/
"""


def _examples(command: str) -> str:
    """The examples of one command (``histeq COMMAND --help``); ``histeq --help`` shows them all."""
    lines = [line for line in _EXAMPLES.splitlines()[1:] if line.split()[1] == command]
    return "examples:\n" + "\n".join(lines) + "\n" if lines else ""


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("histeq")
    except PackageNotFoundError:  # pragma: no cover - only in an uninstalled tree
        return "unknown"


class _VersionAction(argparse.Action):
    """--version, looked up only when asked (importlib.metadata is slow to import)."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"histeq {_version()}")
        parser.exit()


def _clip_limit(text: str):
    if text.lower() == "none":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"must be >= 1 (a multiple of the mean bin height), got {text}")
    return value


def _int_list(text: str) -> list[int]:
    """One int or a comma-separated list of them (``-2,-1``)."""
    try:
        return [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers (e.g. -2 -1 or -2,-1), got {text!r}") from None


#: Options whose values may be negative comma lists, which argparse would take for options (``--axes -2,-1``).
_LIST_OPTIONS = ("--axes", "--tiles")


def _joined_lists(argv: list[str]) -> list[str]:
    """``--axes -2,-1`` as ``--axes=-2,-1``, which argparse reads as a value."""
    out: list[str] = []
    for token in argv:
        if (
            out
            and out[-1] in _LIST_OPTIONS
            and token[:1] == "-"
            and "," in token
            and all(part.strip().lstrip("-").isdigit() for part in token.split(",") if part.strip())
        ):
            out[-1] = f"{out[-1]}={token}"
        else:
            out.append(token)
    return out


def _flat(values):
    """Lists of ints from nargs="+" with _int_list, flattened."""
    return None if values is None else [v for part in values for v in part]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_list(text: str) -> list[int]:
    """One positive int or a comma-separated list of them (``8,8``)."""
    return [_positive(part) for part in text.split(",") if part.strip()]


def _size_list(text: str) -> list[float]:
    """One positive number or a comma-separated list of them (``20`` or ``1.4,0.4,0.4``)."""
    try:
        sizes = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        sizes = []
    if not sizes or not all(math.isfinite(size) and size > 0 for size in sizes):
        raise argparse.ArgumentTypeError(f"expected positive numbers (e.g. 20 or 1.4,0.4,0.4), got {text!r}")
    return sizes


def _spacing_list(text: str) -> list[float] | str:
    """--spacing: pixel sizes, or ``file`` for the sizes the input file states."""
    return "file" if text == "file" else _size_list(text)


def _add_files(p: argparse.ArgumentParser, method: str) -> None:
    files = p.add_argument_group("files")
    files.add_argument(
        "inputs",
        metavar="INPUT",
        nargs="+",
        type=Path,
        help="files, folders or glob patterns (IN OUT: one file to one file)",
    )
    files.add_argument(
        "-o", "--output", metavar="OUT", help="output file (one input) or folder (mirrors the input tree)"
    )
    files.add_argument("--suffix", metavar="S", help="write next to each input, as NAME + S + extension")
    files.add_argument("--in-place", action="store_true", help="replace each input with its result")
    files.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    files.add_argument("-r", "--recursive", action="store_true", help="descend into subfolders of input folders")
    files.add_argument("--format", choices=sorted(FORMATS), help="output format (default: the input's)")
    files.add_argument(
        "--dtype",
        choices=("uint8", "uint16", "float32", "float64"),
        help="output dtype, rescaled between the nominal ranges (default: the input's)",
    )
    files.add_argument("--jobs", type=_positive, help="files processed at once (default: all cores)")
    files.add_argument(
        "--dask",
        action="store_true",
        help="process chunk by chunk (Dask), for inputs larger than memory; implied by .zarr "
        "input and by a TIFF over a quarter of the free memory; a .zarr or .tif output is "
        "written chunk by chunk (.tif: uncompressed)",
    )
    files.add_argument("--quiet", action="store_true", help="no progress and no summary")
    files.add_argument("--json", action="store_true", help="print a machine-readable summary on stdout")
    files.add_argument(
        "--report",
        type=Path,
        metavar="FIG",
        help="before/after figure with histograms (.png, .pdf, .svg); a folder for many inputs",
    )

    opts = p.add_argument_group(f"{method} options (the keywords of histeq.{method})")
    opts.add_argument(
        "--mask",
        type=Path,
        metavar="FILE",
        help="image or .npy of the input's size; only its non-zero pixels feed the histogram",
    )
    opts.add_argument(
        "--axes",
        type=_int_list,
        nargs="+",
        metavar="AXIS",
        help="spatial axes of one image of an array batch, e.g. --axes -2 -1 or --axes -2,-1",
    )
    opts.add_argument(
        "--channel-axis",
        type=int,
        metavar="AXIS",
        help="colour axis of a NumPy array (image files: found from the format)",
    )
    opts.add_argument(
        "--color", choices=("lightness", "luma", "value", "per-channel"), help="what to change in a colour image"
    )
    opts.add_argument(
        "--nbins", type=_positive, help="histogram bins (default: one per level up to 16 bits, 4096 for floats)"
    )
    opts.add_argument("--threads", type=_positive, help="threads per file (default: all cores)")
    if method in ("equalize", "clahe"):
        opts.add_argument("--in-range", type=float, nargs=2, metavar=("LO", "HI"), help="range the histogram covers")
    if method != "match":
        opts.add_argument("--out-range", type=float, nargs=2, metavar=("LO", "HI"), help="range of the output")
    if method != "clahe":
        opts.add_argument("--exact", action="store_true", help="strict ordering: exactly the target histogram")
    if method in ("equalize", "clahe"):
        opts.add_argument(
            "--compat",
            choices=("opencv", "pillow", "skimage") if method == "equalize" else ("opencv",),
            help="reproduce a peer library's result",
        )
    if method == "clahe":
        opts.add_argument(
            "--tiles",
            type=_positive_list,
            nargs="+",
            metavar="N",
            help="tiles per spatial axis, one number or one per axis (default: 8, at most the size)",
        )
        opts.add_argument(
            "--kernel-size",
            type=_size_list,
            nargs="+",
            metavar="SIZE",
            help="instead of --tiles: the regions' size per spatial axis, one number or one per axis, in pixels "
            "or in the units of --spacing (scikit-image's kernel_size, Fiji's block size)",
        )
        opts.add_argument(
            "--spacing",
            type=_spacing_list,
            nargs="+",
            metavar="SIZE",
            help="the pixel size per spatial axis in the units of --kernel-size, or 'file': the physical sizes "
            "the input states (OME-Zarr scale, OME-TIFF PhysicalSize, ImageJ spacing and resolution)",
        )
        opts.add_argument(
            "--clip-limit",
            type=_clip_limit,
            default=2.0,
            metavar="C",
            help="maximum slope, a multiple of the mean bin height, or 'none' (default: 2)",
        )
    if method == "match":
        opts.add_argument("--reference", type=Path, required=True, metavar="FILE", help="the reference image")
        opts.add_argument("--reference-mask", type=Path, metavar="FILE", help="mask of the reference")
    if method == "specify":
        opts.add_argument(
            "--histogram",
            default="uniform",
            metavar="H",
            help="'uniform', 'rayleigh', 'exponential', comma-separated weights, or a .npy/.txt "
            "file of weights (default: uniform)",
        )
        opts.add_argument("--alpha", type=float, default=0.4, help="parameter of rayleigh and exponential")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="histeq",
        description="Histogram equalization of images and arrays.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, nargs=0, help="show the version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    summaries = {
        "equalize": "global histogram equalization",
        "clahe": "contrast-limited adaptive equalization (2-D, 3-D stacks, n-D arrays)",
        "match": "match the histogram of a reference image",
        "specify": "map to a given histogram (uniform, Rayleigh, exponential, weights)",
    }
    # Written out, not made from the summaries: a summary with " of images" appended read "... of a reference
    # image of images", and capitalize() lowered the rest ("2-d", "rayleigh").
    descriptions = {
        "equalize": "Global histogram equalization of each input.",
        "clahe": "Contrast-limited adaptive histogram equalization (CLAHE) of each input: 2-D images, 3-D stacks, "
        "n-D arrays.",
        "match": "Match the histogram of each input to that of a reference image.",
        "specify": "Map each input to a given histogram: uniform, Rayleigh, exponential or weights.",
    }
    for method in METHODS:
        p = commands.add_parser(
            method,
            help=summaries[method],
            epilog=_examples(method),
            formatter_class=argparse.RawDescriptionHelpFormatter,
            description=f"{descriptions[method]}  Inputs: images (PNG, JPEG, TIFF incl. multi-page stacks; "
            "8/16 bit; grey, RGB, RGBA), NumPy .npy/.npz arrays and DICOM.  Outputs keep the input's dtype, "
            "shape and format unless --dtype/--format say otherwise.",
        )
        _add_files(p, method)

    report = commands.add_parser(
        "report",
        help="draw an image next to its equalization, with histograms",
        epilog=_examples("report"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Draw the image and its global equalization side by side, with their histograms and "
        "cumulative distributions (colour: luma); for an array batch (--axes), a contact sheet of a sample.",
    )
    report.add_argument("input", metavar="IN", type=Path, help="image or array file")
    report.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="FIG",
        help="figure (.png, .pdf, .svg; default: IN's name + _report.png, next to it)",
    )
    report.add_argument(
        "--axes",
        type=_int_list,
        nargs="+",
        metavar="AXIS",
        help="spatial axes of an array batch, e.g. --axes -2 -1 or --axes -2,-1",
    )
    report.add_argument("--channel-axis", type=int, metavar="AXIS", help="colour axis of a NumPy array")
    report.add_argument(
        "--mask",
        type=Path,
        metavar="FILE",
        help="image or .npy of IN's size; only its non-zero pixels feed the histogram of the equalization",
    )
    report.add_argument("--overwrite", action="store_true", help="replace FIG if it exists")

    demo = commands.add_parser(
        "demo",
        help="equalize the bundled sample image and draw the before/after figure",
        epilog=_examples("demo"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Equalize the sample image shipped with histeq (a synthetic low-contrast micrograph) and "
        "write the result and a before/after figure with histograms and cumulative distributions.",
    )
    demo.add_argument(
        "-o",
        "--output-dir",
        type=Path,
        default=Path("histeq-demo"),
        metavar="DIR",
        help="folder for the results (default: ./histeq-demo)",
    )
    return parser


def _commands(parser: argparse.ArgumentParser) -> dict:
    """The subcommands' parsers, by name."""
    return parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse keeps them there


def _parse(parser: argparse.ArgumentParser, argv: list[str]):
    """Parsed arguments; an unknown option gets the nearest options of every command as a hint."""
    args, unknown = parser.parse_known_args(_joined_lists(argv))
    if unknown:
        import difflib

        known = {}
        for name, sub in _commands(parser).items():
            for action in sub._actions:  # noqa: SLF001 - argparse keeps them there
                for option in action.option_strings:
                    known.setdefault(option, []).append(name)
        hints = []
        for word in unknown:
            if not word.startswith("-"):
                continue
            for option in difflib.get_close_matches(word.split("=")[0], known, n=2, cutoff=0.75):
                commands = known[option]
                where = "" if args.command in commands else f" (an option of histeq {' and '.join(commands)})"
                hints.append(f"{option}{where}")
        message = f"unrecognized arguments: {' '.join(unknown)}"
        if hints:
            message += "; did you mean " + " or ".join(hints) + "?"
        _commands(parser)[args.command].error(message)
    for name in ("axes", "tiles", "kernel_size"):
        if getattr(args, name, None) is not None:
            setattr(args, name, _flat(getattr(args, name)))
    if getattr(args, "spacing", None) is not None:
        args.spacing = "file" if "file" in args.spacing else _flat(args.spacing)
    return args
