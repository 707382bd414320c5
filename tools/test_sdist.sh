#!/usr/bin/env bash
# Build the sdist from a clean clone of the committed HEAD, then, in a fresh virtual environment, install
# histeq from it with the README's test extras (the C++ core compiled from the archive alone) and run the
# suite from the unpacked archive: a file the build or the tests need and the archive lacks fails here.
#
#   tools/test_sdist.sh [OUTDIR]     (default: dist/; PYTHON picks the interpreter, default python3)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if git -C "$root" rev-parse --git-dir >/dev/null 2>&1; then
    git clone --quiet --no-hardlinks "$root" "$work/clean"  # nothing untracked or built can slip in
else
    cp -a "$root" "$work/clean"
fi
"$python" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet --upgrade pip build
"$work/tools/bin/python" -m build --sdist --outdir "$out" "$work/clean"
sdist=$(ls -t "$out"/histeq-*.tar.gz | head -1)
echo "== $(basename "$sdist"): $(tar -tzf "$sdist" | wc -l) files"

"$python" -m venv "$work/venv"
# shellcheck disable=SC1091
. "$work/venv/bin/activate"
pip install --quiet --upgrade pip
pip install --config-settings=cmake.define.HISTEQ_WERROR=ON "histeq[${EXTRAS:-test}] @ file://$sdist" 2>&1 | grep -v '^\s*$' | tail -3
mkdir "$work/unpacked"
tar -xzf "$sdist" -C "$work/unpacked"
cd "$work"/unpacked/histeq-*/
python -c "import histeq, sys; assert 'site-packages' in histeq.__file__, histeq.__file__; print('testing', histeq.__file__)"
pytest -q -p no:cacheprovider
