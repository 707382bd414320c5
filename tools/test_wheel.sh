#!/usr/bin/env bash
# Install a built wheel in a fresh virtual environment with no compiler on the PATH, and run the test suite
# against it (from this checkout's tests/).  Given several wheels, each is tested so, in an environment of
# its own, and the run fails if any of them does.
#
#   tools/test_wheel.sh dist/histeq-*.whl        (PYTHON picks the interpreter, default python3)
#
# EXTRAS: the wheel's extras to install with it, default test-full (every test runs: PyTorch, torchvision and
# the documentation site's stack besides the README's test extras).
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: tools/test_wheel.sh WHEEL...  (PYTHON picks the interpreter, default python3)" >&2
    exit 2
fi
# Every wheel is checked before any is tested: a glob that matched nothing arrives as itself.
for wheel in "$@"; do
    if [ ! -f "$wheel" ]; then
        echo "test_wheel: no such wheel: $wheel" >&2
        exit 2
    fi
done
if [ "$#" -gt 1 ]; then
    # One run of this script per wheel: a failing wheel stops its own run (set -e), and the others still run.
    failed=()
    for wheel in "$@"; do
        echo "== test_wheel: $wheel"
        bash "${BASH_SOURCE[0]}" "$wheel" || failed+=("$wheel")
    done
    if [ "${#failed[@]}" -gt 0 ]; then
        echo "test_wheel: ${#failed[@]} of $# wheels failed: ${failed[*]}" >&2
        exit 1
    fi
    echo "test_wheel: all $# wheels passed"
    exit 0
fi

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A PATH with every tool of /usr/bin but the compilers, linkers' drivers and build tools.
mkdir "$work/bin"
for tool in /usr/bin/* /usr/local/bin/*; do
    name=${tool##*/}  # not $(basename): a process per tool, thousands of them
    case $name in
        cc | c++ | gcc* | g++* | *-gcc* | *-g++* | clang* | cpp* | *-cpp* | cmake* | ninja* | make | zig | ld* | *-ld*) ;;
        *) [ -e "$work/bin/$name" ] || ln -s "$tool" "$work/bin/$name" ;;
    esac
done
"$python" -m venv "$work/venv"
export PATH="$work/venv/bin:$work/bin"
if command -v cc c++ gcc g++ cmake >/dev/null 2>&1; then
    echo "test_wheel: a compiler is still on the PATH" >&2
    exit 1
fi
pip install --quiet "${wheel}[${EXTRAS:-test-full}]"
cd "$root"
# The checkout's sources must not shadow the installed wheel: pytest imports histeq from site-packages.
python -c "import histeq, sys; assert 'site-packages' in histeq.__file__, histeq.__file__; print('testing', histeq.__file__)"
pytest -q -p no:cacheprovider
