"""Larger than memory: a Zarr array through Dask, against one in-memory call; peak memory and time.

Run:  python benchmarks/dask_memory.py [--side 32768] [--workers 2]
      python benchmarks/dask_memory.py --clahe [--side 4096 --depth 64]

Writes a side x side uint8 Zarr array (a smooth field plus noise, default
chunks of 4096 x 4096) -- or with ``--clahe`` a depth x side x side uint16
volume in chunks of 16 x 1024 x 1024 -- to a temporary folder, then, each in a
fresh process:

1. Dask: ``histeq.equalize(da.from_zarr(...)).to_zarr(...)`` (or
   ``histeq.clahe(..., tiles=8)``) on a
   ``distributed.LocalCluster`` of ``--workers`` single-threaded workers
   (processes), reporting wall time and the peak resident memory of the
   scheduler's process and of every worker;
   then, on the same cluster, a plain copy of the Zarr array (read and
   written chunk by chunk, nothing computed): the I/O floor of any chunked run;
2. in memory: the whole array loaded, the same call on it (all threads),
   reporting the time of the call alone.

It checks that both results are equal.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

WRITE = """
import numpy as np, dask.array as da
side, chunk = {side}, {chunk}
def block(block_id=None):
    i, j = block_id
    y, x = np.mgrid[i * chunk:(i + 1) * chunk, j * chunk:(j + 1) * chunk].astype(np.float32) / side
    rng = np.random.default_rng(i * 1000 + j)
    field = 60 + 40 * np.sin(7 * x) * np.cos(5 * y) + rng.normal(0, 6, x.shape)
    return np.clip(field, 0, 255).astype(np.uint8)
image = da.map_blocks(block, chunks=((chunk,) * (side // chunk),) * 2, dtype=np.uint8)
image.to_zarr("{path}/input.zarr")
"""

WRITE_VOLUME = """
import numpy as np, dask.array as da
side, depth, chunk = {side}, {depth}, (16, 1024, 1024)
def block(block_id=None):
    k, i, j = block_id
    z, y, x = np.mgrid[k * chunk[0]:(k + 1) * chunk[0], i * chunk[1]:(i + 1) * chunk[1],
                       j * chunk[2]:(j + 1) * chunk[2]].astype(np.float32)
    rng = np.random.default_rng((k * 100 + i) * 100 + j)
    field = 20000 + 8000 * np.sin(6 * x / side) * np.cos(4 * y / side) + 50 * z + rng.normal(0, 300, x.shape)
    return np.clip(field, 0, 65535).astype(np.uint16)
shape = (depth, side, side)
image = da.map_blocks(block, chunks=tuple((c,) * (n // c) for c, n in zip(chunk, shape)), dtype=np.uint16)
image.to_zarr("{path}/input.zarr")
"""

DASK = """
import json, resource, time
import dask.array as da, distributed, histeq
if __name__ == "__main__":
    with distributed.LocalCluster(n_workers={workers}, threads_per_worker=1, processes=True,
                                  dashboard_address=":0") as cluster, distributed.Client(cluster) as client:
        start = time.perf_counter()
        histeq.{call}(da.from_zarr("{path}/input.zarr"){kwargs}).to_zarr("{path}/dask.zarr")
        seconds = time.perf_counter() - start
        workers = client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        start = time.perf_counter()  # the floor: the same chunks read and written, nothing computed
        da.from_zarr("{path}/input.zarr").to_zarr("{path}/copy.zarr")
        copy = time.perf_counter() - start
    print(json.dumps({{"seconds": seconds, "client_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                      "worker_peaks": sorted(workers.values()), "copy": copy}}))
"""

MEMORY = """
import json, time
import numpy as np, dask.array as da, histeq
image = da.from_zarr("{path}/input.zarr").compute()
histeq.{call}(image[:64, :64]{kwargs})  # warm-up
start = time.perf_counter()
out = histeq.{call}(image{kwargs})
seconds = time.perf_counter() - start
same = bool(np.array_equal(out, da.from_zarr("{path}/dask.zarr").compute()))
print(json.dumps({{"seconds": seconds, "equal": same}}))
"""


def _python(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--side", type=int)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--depth", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clahe", action="store_true", help="CLAHE (8 tiles per axis) of a uint16 volume")
    args = parser.parse_args(argv)
    side = args.side or (4096 if args.clahe else 32768)
    call, kwargs = ("clahe", ", tiles=8") if args.clahe else ("equalize", "")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp).resolve()
        write = (
            WRITE_VOLUME.format(side=side, depth=args.depth, path=path)
            if args.clahe
            else WRITE.format(side=side, chunk=args.chunk, path=path)
        )
        subprocess.run([sys.executable, "-c", write], check=True)
        gib = (side * side * args.depth * 2 if args.clahe else side * side) / 2**30
        lazy = _python(DASK.format(workers=args.workers, path=path, call=call, kwargs=kwargs))
        memory = _python(MEMORY.format(path=path, call=call, kwargs=kwargs))
    mib = 2**20
    what = (
        f"CLAHE of a {args.depth}x{side}x{side} uint16 volume ({gib:.2f} GiB), Zarr chunks 16x1024x1024"
        if args.clahe
        else f"equalize {side}x{side} uint8 ({gib:.2f} GiB), Zarr chunks {args.chunk}x{args.chunk}"
    )
    print(what + "\n")
    print("| run | time | throughput | peak memory |")
    print("|---|---|---|---|")
    print(
        f"| Dask, {args.workers} workers, Zarr in and out | {lazy['seconds']:.1f} s | "
        f"{gib / lazy['seconds']:.2f} GiB/s | client {lazy['client_peak'] / mib:.0f} MiB, workers "
        + ", ".join(f"{p / mib:.0f}" for p in lazy["worker_peaks"])
        + " MiB |"
    )
    print(
        f"| Dask, {args.workers} workers, Zarr copy only (read + write, nothing computed) | {lazy['copy']:.1f} s | "
        f"{gib / lazy['copy']:.2f} GiB/s | |"
    )
    print(
        f"| in memory, one call (array already loaded) | {memory['seconds']:.2f} s | "
        f"{gib / memory['seconds']:.2f} GiB/s | input + output: {2 * gib * 1024:.0f} MiB and more |"
    )
    print(f"\nresults equal: {memory['equal']}")


if __name__ == "__main__":
    main()
