"""CLAHE of a large 16-bit OME-Zarr volume through the command line, against the same call in memory.

Run:  python benchmarks/ome_zarr.py [--shape 512 1024 1024] [--runs 3] [--chunks 64 256 256] [--kernel-size 60]

The volume (a smooth field of the whole 16-bit range with a camera's noise, 1.4 x 0.4 x 0.4 um voxels) is
written once as OME-Zarr with its pyramid.  Then, interleaved, ``runs`` times each:

- in memory: ``histeq.clahe(volume, kernel_size=60, spacing=(1.4, 0.4, 0.4))`` on the array already loaded;
- the command line: ``histeq clahe in.ome.zarr -o out.ome.zarr --kernel-size 60 --spacing file``, a fresh
  process: the volume read chunk by chunk (twice: tile histograms, then interpolation), CLAHE through the
  Dask path, the result written chunk by chunk (compressed) with its pyramid.

Medians of wall time and their ratio; the command line's result is checked equal to the in-memory one.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import histeq
import histeq.io

SPACING = (1.4, 0.4, 0.4)


def volume(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Built slab by slab, so that a 1 GiB volume needs no more than its own memory and a slab's floats."""
    rng = np.random.default_rng(seed)
    out = np.empty(shape, np.uint16)
    y, x = np.indices(shape[1:], dtype=np.float32)
    for z in range(shape[0]):
        field = 30000 + 25000 * np.sin(x / 97 + z / 41) * np.cos(y / 131)
        out[z] = (field + rng.normal(0, 2500, shape[1:]).astype(np.float32)).clip(0, 65535)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[512, 1024, 1024])
    parser.add_argument("--chunks", type=int, nargs=3, default=[64, 256, 256])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--kernel-size", type=float, default=60.0, help="the regions' size in microns")
    args = parser.parse_args()
    shape, chunks = tuple(args.shape), tuple(args.chunks)
    work = Path(tempfile.mkdtemp(prefix="histeq-ome-"))
    try:
        data = volume(shape)
        source, target = work / "in.ome.zarr", work / "out.ome.zarr"
        meta = histeq.io.OmeZarr.for_array(shape, SPACING, "micrometer")
        histeq.io.write_ome_zarr(source, data, meta, chunks=chunks)
        command = [sys.executable, "-m", "histeq", "clahe", str(source), "-o", str(target)]
        command += ["--kernel-size", str(args.kernel_size), "--spacing", "file", "--overwrite", "--quiet"]
        memory, cli = [], []
        expected = None
        for _ in range(args.runs):
            start = time.perf_counter()
            expected = histeq.clahe(data, kernel_size=args.kernel_size, spacing=SPACING)
            memory.append(time.perf_counter() - start)
            start = time.perf_counter()
            subprocess.run(command, check=True)
            cli.append(time.perf_counter() - start)
        written, _ = histeq.io.read_ome_zarr(target)
        assert np.array_equal(written.compute(), expected), "the command line's result differs"
        in_memory, through_cli = statistics.median(memory), statistics.median(cli)
        gib = data.nbytes / 2**30
        regions = f"{args.kernel_size:g} um regions"
        print(f"CLAHE of a {' x '.join(map(str, shape))} uint16 volume ({gib:.2f} GiB), {regions}, chunks {chunks}")
        print("| path | median s | runs | ratio |")
        print("|---|---|---|---|")
        print(f"| in memory (`histeq.clahe`) | {in_memory:.2f} | {', '.join(f'{t:.2f}' for t in memory)} | 1.00 |")
        print(
            f"| command line, OME-Zarr in and out with its pyramid | {through_cli:.2f} | "
            f"{', '.join(f'{t:.2f}' for t in cli)} | {through_cli / in_memory:.2f} |"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
