"""The worker pool: concurrent callers, fork, the CPUs the process may use, threadpoolctl."""

import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import histeq


def _python(code, env=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, **(env or {})),
    )


def test_concurrent_callers_get_the_serial_results(camera):
    rng = np.random.default_rng(0)
    images = [np.tile(camera, (2, 2))[: 400 + 8 * k] for k in range(16)]
    volumes = [rng.integers(0, 4000, (24, 40, 40), dtype=np.uint16) for _ in range(4)]
    serial = [histeq.equalize(x, threads=1) for x in images] + [histeq.clahe(v, threads=1) for v in volumes]

    def work(k):
        return histeq.equalize(images[k], threads=2) if k < 16 else histeq.clahe(volumes[k - 16], threads=2)

    for _ in range(3):
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(work, range(20)))
        for got, expected in zip(results, serial):
            np.testing.assert_array_equal(got, expected)


def test_one_and_many_workers_agree(camera):
    big = np.tile(camera, (3, 3))
    for threads in (2, 3, 7, 16):
        np.testing.assert_array_equal(histeq.equalize(big, threads=threads), histeq.equalize(big, threads=1))
        np.testing.assert_array_equal(histeq.clahe(big, threads=threads), histeq.clahe(big, threads=1))


def test_back_to_back_calls_with_changing_thread_counts(camera):
    # Was: a parked worker could take a newer call's task under an older generation and run it twice, after its
    # caller had returned (a segfault on 16 cores when calls with different thread counts followed each other).
    image = np.tile(camera, (2, 2))
    expected = histeq.equalize(image, threads=1)
    for k in range(300):
        np.testing.assert_array_equal(histeq.equalize(image, threads=(1, 16, 2, 7, 3)[k % 5]), expected)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_computes_and_exits():
    # A child has none of the parent's pool threads: it must neither hang nor share them.
    done = _python("""
        import os, numpy as np, histeq
        image = np.random.default_rng(0).integers(0, 200, (1024, 1024), dtype=np.uint8)
        expected = histeq.equalize(image, threads=2)  # the parent's pool is started
        pid = os.fork()
        if pid == 0:
            ok = np.array_equal(histeq.equalize(image, threads=2), expected)
            ok &= np.array_equal(histeq.clahe(image, threads=2), histeq.clahe(image, threads=1))
            os._exit(0 if ok else 3)
        _, status = os.waitpid(pid, 0)
        print(os.waitstatus_to_exitcode(status))
        print(np.array_equal(histeq.equalize(image, threads=2), expected))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["0", "True"]  # (an editable install prints its rebuild first)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_pool_threads_leave_signals_to_the_main_thread():
    # Was: a SIGTERM taken by a pool thread left a main thread blocked in a read asleep (a worker process of the
    # command line outlived its killed parent).  Every thread the pool starts must block SIGINT and SIGTERM.
    done = _python("""
        import os, signal, numpy as np, histeq
        image = np.random.default_rng(0).integers(0, 200, (1024, 1024), dtype=np.uint8)
        before = set(os.listdir("/proc/self/task"))  # the main thread and other libraries' (OpenBLAS)
        histeq.equalize(image, threads=4)
        histeq.clahe(image, threads=4)
        for task in sorted(set(os.listdir("/proc/self/task")) - before | {str(os.getpid())}):
            with open(f"/proc/self/task/{task}/status") as f:
                blocked = int(next(line for line in f if line.startswith("SigBlk")).split()[1], 16)
            takes = [s for s in (signal.SIGINT, signal.SIGTERM) if not blocked >> (s - 1) & 1]
            print("main" if int(task) == os.getpid() else "worker", len(takes))
    """)
    assert done.returncode == 0, done.stderr
    threads = [line.split() for line in done.stdout.splitlines() if line.startswith(("main", "worker"))]
    assert ["main", "2"] in threads and len(threads) >= 4
    assert all(takes == "0" for who, takes in threads if who == "worker")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity")
def test_the_default_is_the_cpus_the_process_may_use():
    done = _python("""
        import os
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        import histeq
        print(histeq.get_num_threads())
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == "1"
    done = _python("import histeq; print(histeq.get_num_threads())", env={"HISTEQ_NUM_THREADS": "3"})
    assert done.stdout.split()[-1] == "3"


def test_threadpoolctl_limits_histeq():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = histeq.get_num_threads()
    info = [lib for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "histeq"]
    assert len(info) == 1 and info[0]["num_threads"] == before
    with threadpoolctl.threadpool_limits(limits=1):
        assert histeq.get_num_threads() == 1
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        assert histeq.get_num_threads() == before
    assert histeq.get_num_threads() == before
