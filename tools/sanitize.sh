#!/usr/bin/env bash
# Builds histeq's core with AddressSanitizer and UndefinedBehaviorSanitizer (any undefined behaviour aborts),
# then runs pytest against that build.  Arguments go to pytest; without any, the whole suite.
#
#   tools/sanitize.sh                                               # the suite
#   HISTEQ_FUZZ_EXAMPLES=3000 tools/sanitize.sh tests/operations/test_fuzz.py -s   # the fuzz harness, with its table
#
# Needs gcc/g++ (libasan, libubsan) and the test extras installed (pip install ".[test]").  The build goes to
# build/sanitize (HISTEQ_SANITIZE_DIR to change); the sanitizer runtimes are preloaded into Python, libasan
# first and libstdc++ with it, as a Python that was not built with them needs.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${HISTEQ_SANITIZE_DIR:-$root/build/sanitize}
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"

python -m pip install --quiet --no-deps --upgrade --target "$out/site" \
    -C cmake.define.CMAKE_CXX_FLAGS="$flags" \
    -C cmake.define.CMAKE_MODULE_LINKER_FLAGS="-fsanitize=address,undefined" \
    -C build-dir="$out/build" "$root"
# This build, not an installed or editable one, is what `import histeq` finds.
cat > "$out/site/sitecustomize.py" <<'PY'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if "ScikitBuildRedirectingFinder" not in type(f).__name__]
PY

cd "$root"
export PYTHONPATH="$out/site${PYTHONPATH:+:$PYTHONPATH}"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libstdc++.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
python -c "import histeq, sys; print('sanitized histeq from', histeq.__file__, file=sys.stderr)"
python -m pytest -p no:cacheprovider "$@"
