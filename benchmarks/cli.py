"""The command line's speed: cold start on one image, and a folder of many small images.

Run:  python benchmarks/cli.py [--runs N] [--files N]

1. ``histeq equalize`` on one 512 x 512 PNG, a fresh process each time, against
   the equivalent three-line OpenCV script, interleaved; medians of wall time.
2. ``histeq equalize DIR -o OUT`` on a folder of small PNGs: wall time, and the
   CPU time of the process and its threads over the wall time (2.0 = both
   cores of a 2-core machine busy throughout).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPENCV_SCRIPT = """\
import cv2
image = cv2.imread("{src}", cv2.IMREAD_UNCHANGED)
cv2.imwrite("{dst}", cv2.equalizeHist(image))
"""
OPENCV_FOLDER_SCRIPT = """\
import cv2, os
for name in sorted(os.listdir("{src}")):
    cv2.imwrite(os.path.join("{dst}", name), cv2.equalizeHist(cv2.imread(os.path.join("{src}", name),
                                                                      cv2.IMREAD_UNCHANGED)))
"""


def _histeq_command() -> list[str]:
    script = shutil.which("histeq")
    return [script] if script else [sys.executable, "-m", "histeq"]


def _wall(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - start


def cold_start(work: Path, runs: int) -> tuple[float, float]:
    import numpy as np
    from PIL import Image
    from skimage import data

    src = work / "camera.png"
    Image.fromarray(data.camera()).save(src)
    script = work / "opencv_equalize.py"
    script.write_text(OPENCV_SCRIPT.format(src=src, dst=work / "cv.png"))
    ours, theirs = [], []
    for _ in range(runs):
        ours.append(
            _wall(_histeq_command() + ["equalize", str(src), "-o", str(work / "h.png"), "--overwrite", "--quiet"])
        )
        theirs.append(_wall([sys.executable, str(script)]))
    np.testing.assert_array_equal(np.asarray(Image.open(work / "h.png")), np.asarray(Image.open(work / "cv.png")))
    return statistics.median(ours), statistics.median(theirs)


def folder(work: Path, files: int) -> tuple[float, float, float]:
    import numpy as np
    from PIL import Image

    source = work / "many"
    source.mkdir()
    rng = np.random.default_rng(0)
    for i in range(files):
        Image.fromarray(rng.integers(0, 200, (96, 96), dtype=np.uint8)).save(source / f"{i:04d}.png")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = _wall(_histeq_command() + ["equalize", str(source), "-o", str(work / "many_out"), "--quiet"])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert len(list((work / "many_out").iterdir())) == files
    (work / "cv_out").mkdir()
    script = work / "opencv_folder.py"
    script.write_text(OPENCV_FOLDER_SCRIPT.format(src=source, dst=work / "cv_out"))
    theirs = _wall([sys.executable, str(script)])
    return wall, cpu / wall, theirs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--files", type=int, default=1000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ours, theirs = cold_start(work, args.runs)
        print(f"cores: {os.cpu_count()}\n")
        print("| case | histeq | peer | ratio |")
        print("|---|---|---|---|")
        print(
            f"| cold start, one 512x512 PNG (median of {args.runs}) | {ours * 1e3:.0f} ms | "
            f"{theirs * 1e3:.0f} ms (OpenCV script) | {ours / theirs:.2f} |"
        )
        wall, busy, theirs = folder(work, args.files)
        print(
            f"| folder of {args.files} 96x96 PNGs ({busy:.2f} cores busy) | {wall:.2f} s | {theirs:.2f} s "
            f"(OpenCV loop script) | {wall / theirs:.2f} |"
        )


if __name__ == "__main__":
    main()
