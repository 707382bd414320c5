"""How many threads a call uses, and who may say so.

The default is the number of CPUs the process may use: its CPU affinity
(``taskset``, ``os.sched_setaffinity``, container CPU sets), capped by a
cgroup CPU quota (``docker --cpus``), both read at import, not the machine's
core count.  ``HISTEQ_NUM_THREADS`` (at import), :func:`set_num_threads` and
``threadpoolctl.threadpool_limits`` change it; ``threads=`` overrides it for
one call.  The kernels run on one persistent pool, which grows to the largest
count asked for; a call uses fewer workers when its work is small.
"""

from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["set_num_threads", "get_num_threads", "resolve_threads", "available_cpus"]

#: More threads than any machine has cores for (the kernels take a C int).
MAX_THREADS = 1 << 15


def _cgroup_cpus() -> float | None:
    """The CPU quota of this process's cgroup (v2 cpu.max, or v1 cfs quota/period), in CPUs; None: no quota."""
    try:
        with open("/proc/self/cgroup") as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    quotas = []
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        path = parts[2].lstrip("/")
        if parts[1] == "":  # v2: the quota of the group and of every group above it
            candidates = [("/sys/fs/cgroup", path)]
            while path:
                candidates.append(("/sys/fs/cgroup", path))
                path = os.path.dirname(path)
            for root, group in candidates:
                try:
                    with open(os.path.join(root, group, "cpu.max")) as f:
                        quota, period = f.read().split()
                    if quota != "max":
                        quotas.append(int(quota) / int(period))
                except (OSError, ValueError):
                    pass
        elif "cpu" in parts[1].split(","):  # v1
            for base in ("/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/cpu"):
                try:
                    with open(os.path.join(base, path, "cpu.cfs_quota_us")) as f:
                        quota = int(f.read())
                    with open(os.path.join(base, path, "cpu.cfs_period_us")) as f:
                        period = int(f.read())
                    if quota > 0 and period > 0:
                        quotas.append(quota / period)
                    break
                except (OSError, ValueError):
                    pass
    return min(quotas) if quotas else None


def available_cpus() -> int:
    """The CPUs this process may use: its affinity mask, capped by its cgroup's CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        count = os.cpu_count() or 1
    quota = _cgroup_cpus()
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


_AVAILABLE = available_cpus()
_num_threads: int | None = None


def set_num_threads(n: int | None) -> None:
    """Set the default number of threads of every kernel (``None``: the CPUs this process may use).

    The ``threads=`` argument of a call overrides it.  The environment variable
    ``HISTEQ_NUM_THREADS`` gives the default at import;
    ``threadpoolctl.threadpool_limits`` sets it too.
    """
    global _num_threads
    _num_threads = None if n is None else _check_threads(n)


def get_num_threads() -> int:
    """The number of threads a call without ``threads=`` uses."""
    return _num_threads if _num_threads is not None else _AVAILABLE


def _check_threads(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"threads must be a positive int or None, got {type(n).__name__}")
    if not 1 <= n <= MAX_THREADS:
        raise ValueError(f"threads must be between 1 and {MAX_THREADS}, got {n}")
    return int(n)


def resolve_threads(threads: int | None) -> int:
    return get_num_threads() if threads is None else _check_threads(threads)


_env_threads = os.environ.get("HISTEQ_NUM_THREADS")
if _env_threads:
    try:
        set_num_threads(int(_env_threads))
    except ValueError as exc:
        raise ValueError(f"HISTEQ_NUM_THREADS must be a positive integer, got {_env_threads!r}") from exc


def _register_with_threadpoolctl() -> None:
    """threadpoolctl (when installed) learns of histeq's threads, so that ``threadpool_limits`` limits them."""
    import importlib.util

    if importlib.util.find_spec("threadpoolctl") is None:
        return
    import threadpoolctl

    if not hasattr(threadpoolctl, "register"):  # before threadpoolctl 3.2: no controllers of other libraries
        return

    class HisteqController(threadpoolctl.LibController):
        user_api = "histeq"
        internal_api = "histeq"
        filename_prefixes = ("_core",)  # histeq's extension module, histeq/_core.*.so
        # Another library's _core*.so (msgspec's, which zarr brings on Python >= 3.12) is not ours: it lacks the
        # marker.  Recent threadpoolctl skips it; older ones list it, and it controls nothing.
        check_symbols = ("histeq_core_marker",)

        def set_additional_attributes(self):
            self.histeq = hasattr(self.dynlib, "histeq_core_marker")

        def get_num_threads(self):
            return get_num_threads() if self.histeq else None

        def set_num_threads(self, num_threads):
            if self.histeq:
                set_num_threads(num_threads)

        def get_version(self):
            from importlib.metadata import version

            return version("histeq")

    threadpoolctl.register(HisteqController)


_register_with_threadpoolctl()
