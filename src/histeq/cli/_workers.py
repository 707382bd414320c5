"""The command line's workers: threads for a few files, processes for many, and how they stop.

- SIGTERM is handled like Ctrl-C: no new file is started, files being
  written are finished (threads) or their temporaries removed (processes),
  and the command exits 143 (130 for Ctrl-C).
- Worker processes die with the command, however it ends (SIGKILL too): on
  Linux the kernel sends them SIGTERM when it goes (PR_SET_PDEATHSIG), and a
  watcher thread notices within half a second everywhere; either way a worker
  removes the temporaries it was writing and exits at once, whichever of its
  threads the signal reaches.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor

# Imported here, not in the handlers: a SIGTERM that arrives while the worker still imports it would find it
# half made, and the handler would fail instead of exiting.
from ..io import _temporary

#: Many files: worker processes, as reading and writing small files holds the GIL most of the time; few
#: files: threads, which start at once.
PROCESSES_FROM = 64
EXIT_TERMINATED = 143


class Terminated(Exception):
    """SIGTERM reached the command."""


def _on_sigterm(signum, frame):
    raise Terminated()


class sigterm_raises:  # noqa: N801 - used as a statement: ``with sigterm_raises():``
    """Within the block, SIGTERM raises Terminated in the main thread, as Ctrl-C raises KeyboardInterrupt;
    the handler before it is put back after."""

    def __enter__(self):
        self.previous = None
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGTERM, _on_sigterm)
        return self

    def __exit__(self, *exc_info):
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)


def _worker_sigterm(signum, frame):
    _exit_terminated()


def _exit_terminated() -> None:
    _temporary.remove_in_flight()
    os._exit(EXIT_TERMINATED)


def _die_with(parent: int) -> None:
    """Exit (removing this worker's temporaries) when ``parent`` is gone or SIGTERM arrives.

    On Linux the kernel sends SIGTERM at once when the parent goes (PR_SET_PDEATHSIG).  A watcher thread acts
    on SIGTERM, and checks for the parent twice a second too: the handler set in _start_worker runs only when
    the main thread next runs Python, and one blocked in a read of the task queue may never do so -- the
    kernel may hand the signal to any thread that does not block it (OpenBLAS's, say), which leaves the main
    thread asleep while the command waits for it (seen on Python 3.12).  Python writes every signal it
    catches, in whichever thread, to the wakeup socket the watcher waits on.
    """
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    import select
    import socket

    wakeup, written = socket.socketpair()
    written.setblocking(False)
    signal.set_wakeup_fd(written.fileno())

    def watch():
        # ``written`` is held here for the worker's life: collected, it would close, and the wakeup with it.
        while os.getppid() == parent and written.fileno() >= 0:
            if select.select([wakeup], [], [], 0.5)[0] and signal.SIGTERM in wakeup.recv(64):
                break
        _exit_terminated()

    threading.Thread(target=watch, daemon=True).start()


def _start_worker(parent: int, initializer, args) -> None:
    signal.signal(signal.SIGTERM, _worker_sigterm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the command stops the workers
    _die_with(parent)
    initializer(*args)


def pool(jobs: int, count: int, initializer, args) -> Executor:
    """Threads, or (many files, several jobs) spawned processes that run ``initializer(*args)`` first."""
    if jobs > 1 and count >= PROCESSES_FROM:
        from multiprocessing import get_context

        return ProcessPoolExecutor(
            jobs, mp_context=get_context("spawn"), initializer=_start_worker, initargs=(os.getpid(), initializer, args)
        )
    return ThreadPoolExecutor(max_workers=jobs)


def run_all(executor: Executor, fn, items):
    """``fn`` of every item, in order; on any exception (Ctrl-C, SIGTERM) the pool is stopped first."""
    try:
        yield from executor.map(fn, items, chunksize=8 if isinstance(executor, ProcessPoolExecutor) else 1)
    except BaseException:
        stop(executor)
        raise
    executor.shutdown(wait=True)


def stop(executor: Executor) -> None:
    """No new item starts; threads finish the file they write, processes are told to stop (SIGTERM)."""
    if isinstance(executor, ProcessPoolExecutor):
        for process in list((executor._processes or {}).values()):  # noqa: SLF001 - no public way to signal them
            if process.is_alive():
                process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)
