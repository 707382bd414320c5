"""Temporary files and folders that outputs are written into before they are renamed into place.

Each is hidden beside its target and named ``.NAME.histeq-PID-XXXXXXXX[.tmp]``
(NAME cut to fit the file system's name limit), so that:

- a process stopped by a signal removes the ones it is writing
  (:func:`remove_in_flight`, from the command line's signal handlers);
- one killed outright (SIGKILL) leaves ones that the next run into that
  folder recognises, by the PID of a process that no longer runs, and removes
  (:func:`remove_stale`).  Nothing else is ever removed.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import secrets
import shutil
import threading
from pathlib import Path

#: Bytes of the target's name kept in a temporary's name: with the rest, well under the usual 255.
_NAME_BYTES = 120
_STALE = re.compile(r"^\..*\.histeq-(\d+)-[A-Za-z0-9_]+(\.tmp)?$")

#: Re-entrant: a signal handler that removes the temporaries runs in whichever thread holds it.
_lock = threading.RLock()
#: Names are unique within a process (the PID is in them): a counter, from a random start.
_serial = itertools.count(secrets.randbits(32))
_in_flight: set[str] = set()
_cleaned: set[str] = set()


def _prefix(target: Path) -> str:
    name = target.name.encode("utf-8", "surrogateescape")[:_NAME_BYTES].decode("utf-8", "ignore")
    return f".{name}.histeq-{os.getpid()}-"


def _folder(target: Path) -> str:
    return str(target.parent) if str(target.parent) else "."


def new_file(target: Path) -> str:
    """A new temporary file beside ``target`` (closed, with the usual permissions of a new file: 0666 less the
    umask), registered as in flight."""
    return _registered(target, ".tmp", lambda p: os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)))


def new_folder(target: Path) -> str:
    """A new temporary folder beside ``target``, registered as in flight."""
    return _registered(target, "", lambda p: os.mkdir(p, 0o700))


def _registered(target: Path, suffix: str, create) -> str:
    """A new name beside ``target``, registered as in flight *before* ``create`` makes it, so that a signal at
    any moment finds every temporary this process made."""
    folder = _folder(target)
    remove_stale(folder)
    while True:
        path = os.path.join(folder, f"{_prefix(target)}{next(_serial) & 0xFFFFFFFF:08x}{suffix}")
        with _lock:
            _in_flight.add(path)
        try:
            create(path)
            return path
        except FileExistsError:  # left by an earlier process of the same PID
            done(path)


def done(path: str) -> None:
    """``path`` was renamed into place or removed: no longer in flight."""
    with _lock:
        _in_flight.discard(path)


def remove(path: str) -> None:
    """Remove a temporary file or folder (whatever is left of it) and forget it."""
    with contextlib.suppress(OSError):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)
    done(path)


def remove_in_flight() -> None:
    """Remove every temporary this process is writing (a signal stops it)."""
    with _lock:
        paths = list(_in_flight)
    for path in paths:
        remove(path)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale(folder: str) -> None:
    """Remove, once per process and folder, the temporaries of this tool's naming left there by processes that
    no longer run."""
    key = os.path.abspath(folder)
    with _lock:
        if key in _cleaned:
            return
        _cleaned.add(key)
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        match = _STALE.match(name)
        if match and not _alive(int(match.group(1))):
            remove(os.path.join(folder, name))
