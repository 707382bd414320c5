#!/usr/bin/env bash
# Compile the core and its bindings for the systems this machine cannot run: Windows (x86_64, arm64, with
# MinGW's headers), macOS (arm64, x86_64) and Linux aarch64, with zig's clang and its libc++.  Object files
# only: nothing is linked or run; a failing target prints the compiler's errors and makes the exit status 1.
#
#   tools/cross_compile.sh [TARGET...]      zig target triples; default: every target below
#
# Python's headers are this machine's (PYTHON, default python3, >= 3.12 for the stable ABI's declarations).
# For Windows a copy of them has the POSIX-only headers of pyconfig.h switched off: the real Windows
# pyconfig.h comes with the python.org installer, which these machines cannot download.  What the check covers
# is histeq's code against each target's C and C++ libraries and ISA; MSVC itself is not here (its port:
# wide_arithmetic.hpp in place of __int128, the x86 dispatch and POSIX signal masks behind their guards).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-windows-gnu aarch64-windows-gnu aarch64-macos x86_64-macos aarch64-linux-gnu.2.28)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet ziglang "nanobind>=2.0"
zig=$("$work/tools/bin/python" -c 'import ziglang, pathlib; print(pathlib.Path(ziglang.__file__).parent / "zig")')
nanobind=$("$work/tools/bin/python" -c 'import nanobind, pathlib; print(pathlib.Path(nanobind.include_dir()).parent)')
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
cp -r "$include" "$work/windows-include"
sed -i -E 's@^#define (HAVE_(SYS_SELECT|SYS_TIME|UNISTD|PTHREAD|SYS_WAIT|SYS_RESOURCE|SYS_PARAM|LANGINFO|DLFCN|SYS_FILE|SYS_IOCTL|TERMIOS|SYS_UIO|SYS_SOCKET|NETINET_IN|GRP|PWD)_H) 1@/* \1: not on Windows */@' \
    "$work/windows-include/pyconfig.h"

failed=()
for target in "${targets[@]}"; do
    case $target in
        *windows*) python_include=$work/windows-include ;;
        *) python_include=$include ;;
    esac
    start=$SECONDS
    status=ok
    for source in "$root"/src/cpp/bindings/*.cpp; do
        # As CMakeLists.txt compiles them (STABLE_ABI: the limited API of 3.12), less the optimization.
        if ! "$zig" c++ -target "$target" -std=c++17 -include cstdio -DPy_LIMITED_API=0x030C0000 \
            -I"$python_include" -I"$nanobind/include" -I"$nanobind/ext/robin_map/include" -I"$root/src/cpp" \
            -Wall -Wextra -Werror=unused-function -ffp-contract=off -O0 -c "$source" -o "$work/out.o" \
            2>"$work/errors"; then
            status=failed
            echo "== $target: ${source#"$root"/}" >&2
            head -40 "$work/errors" >&2
        fi
    done
    [ "$status" = ok ] || failed+=("$target")
    printf '%-24s %-7s %4ds\n' "$target" "$status" $((SECONDS - start))
done
[ ${#failed[@]} -eq 0 ] || { echo "cross_compile: failed for ${failed[*]}" >&2; exit 1; }
