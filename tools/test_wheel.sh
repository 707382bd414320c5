#!/usr/bin/env bash
# Install a built wheel in a fresh virtual environment with no compiler on the PATH, and run the test suite
# against it (from this checkout's tests/).
#
#   tools/test_wheel.sh dist/histeq-*.whl        (PYTHON picks the interpreter, default python3)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A PATH with every tool of /usr/bin but the compilers, linkers' drivers and build tools.
mkdir "$work/bin"
for tool in /usr/bin/* /usr/local/bin/*; do
    case $(basename "$tool") in
        cc | c++ | gcc* | g++* | *-gcc* | *-g++* | clang* | cpp* | *-cpp* | cmake* | ninja* | make | zig | ld* | *-ld*) ;;
        *) [ -e "$work/bin/$(basename "$tool")" ] || ln -s "$tool" "$work/bin/$(basename "$tool")" ;;
    esac
done
"$python" -m venv "$work/venv"
export PATH="$work/venv/bin:$work/bin"
if command -v cc c++ gcc g++ cmake >/dev/null 2>&1; then
    echo "test_wheel: a compiler is still on the PATH" >&2
    exit 1
fi
pip install --quiet "${wheel}[test]"
cd "$root"
# The checkout's sources must not shadow the installed wheel: pytest imports histeq from site-packages.
python -c "import histeq, sys; assert 'site-packages' in histeq.__file__, histeq.__file__; print('testing', histeq.__file__)"
pytest -q -p no:cacheprovider
