#!/usr/bin/env bash
# Build the extension for the systems this machine cannot run: Windows (x86_64, arm64, with MinGW's headers and
# the UCRT), macOS (arm64, x86_64) and Linux aarch64, with zig's clang and its libc++.  For each target the
# core's bindings and nanobind are compiled for the stable ABI of Python 3.12 and linked into the module a
# wheel would hold (_core.pyd, _core.abi3.so), and abi3audit checks that it uses nothing outside that ABI.
# Nothing is run.  A failing target prints the tool's errors and makes the exit status 1.
#
#   tools/cross_compile.sh [TARGET...]      zig target triples; default: every target below
#
# Python's headers are this machine's (PYTHON, default python3, >= 3.12 for the stable ABI's declarations).
# For Windows a copy of them has the POSIX-only headers of pyconfig.h switched off, and the module links
# against an import library of python3.dll made from the stable ABI's list of symbols (abi3info): the real
# pyconfig.h and python3.lib come with the python.org installer, which these machines cannot download.  A
# symbol outside the stable ABI therefore fails the Windows link as well as abi3audit.  What the check covers
# is histeq's code against each target's C and C++ libraries, ISA and linker; MSVC itself is not here (its
# port: wide_arithmetic.hpp in place of __int128, the x86 dispatch and POSIX signal masks behind their guards).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(x86_64-windows-gnu aarch64-windows-gnu aarch64-macos x86_64-macos aarch64-linux-gnu.2.28)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet ziglang "nanobind>=2.0" "abi3audit>=0.0.20"
zig=$("$work/tools/bin/python" -c 'import ziglang, pathlib; print(pathlib.Path(ziglang.__file__).parent / "zig")')
nanobind=$("$work/tools/bin/python" -c 'import nanobind, pathlib; print(pathlib.Path(nanobind.include_dir()).parent)')
include=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
cp -r "$include" "$work/windows-include"
sed -i -E 's@^#define (HAVE_(SYS_SELECT|SYS_TIME|UNISTD|PTHREAD|SYS_WAIT|SYS_RESOURCE|SYS_PARAM|LANGINFO|DLFCN|SYS_FILE|SYS_IOCTL|TERMIOS|SYS_UIO|SYS_SOCKET|NETINET_IN|GRP|PWD)_H) 1@/* \1: not on Windows */@' \
    "$work/windows-include/pyconfig.h"
# python3.dll's exports as of 3.12 (functions and data of the stable ABI), for the Windows import libraries.
"$work/tools/bin/python" - "$work/python3.def" <<'EOF'
import sys

from abi3info import DATAS, FUNCTIONS

lines = ["LIBRARY python3.dll", "EXPORTS"]
for table, kind in ((FUNCTIONS, ""), (DATAS, " DATA")):
    for symbol, item in table.items():
        if (item.added.major, item.added.minor) <= (3, 12) and item.ifdef in (None, "MS_WINDOWS"):
            lines.append(symbol.name + kind)
with open(sys.argv[1], "w") as definitions:
    definitions.write("\n".join(lines) + "\n")
EOF

# One object per source, as CMakeLists.txt compiles them (STABLE_ABI: the limited API of 3.12), less the
# optimization; histeq's own sources with its warnings, nanobind's (all in one file) without.
compile() {
    local target=$1 python_include=$2 source=$3 object=$4 warnings=()
    [[ $source == "$root"/* ]] && warnings=(-Wall -Wextra -Werror=unused-function)
    "$zig" c++ -target "$target" -std=c++17 -include cstdio -DPy_LIMITED_API=0x030C0000 -fvisibility=hidden \
        -I"$python_include" -I"$nanobind/include" -I"$nanobind/ext/robin_map/include" -I"$root/src/cpp" \
        "${warnings[@]}" -ffp-contract=off -O0 -c "$source" -o "$object"
}

failed=()
for target in "${targets[@]}"; do
    start=$SECONDS
    out=$work/$target
    mkdir -p "$out"
    case $target in
        *windows*)
            python_include=$work/windows-include
            module=$out/_core.pyd
            "$zig" dlltool -m "$([[ $target == aarch64* ]] && echo arm64 || echo i386:x86-64)" \
                -d "$work/python3.def" -l "$out/libpython3.a"
            link=(-L"$out" -lpython3) ;;
        *macos*)
            python_include=$include
            module=$out/_core.abi3.so
            link=(-Wl,-undefined,dynamic_lookup) ;;  # Python's symbols come from the interpreter, as on macOS
        *)
            python_include=$include
            module=$out/_core.abi3.so
            link=() ;;
    esac
    status=ok
    sources=("$root"/src/cpp/bindings/*.cpp "$nanobind/src/nb_combined.cpp")
    pids=()
    for source in "${sources[@]}"; do
        compile "$target" "$python_include" "$source" "$out/$(basename "$source" .cpp).o" 2>"$out/$(basename "$source").log" &
        pids+=($!)
        if [ ${#pids[@]} -ge "$(nproc)" ]; then wait "${pids[0]}" || status=failed; pids=("${pids[@]:1}"); fi
    done
    for pid in "${pids[@]}"; do wait "$pid" || status=failed; done
    if [ "$status" = ok ]; then
        "$zig" c++ -target "$target" -shared "$out"/*.o "${link[@]}" -o "$module" 2>"$out/link.log" || status="failed (link)"
    fi
    if [ "$status" = ok ]; then
        "$work/tools/bin/abi3audit" --strict --assume-minimum-abi3 3.12 "$module" >"$out/abi3audit.log" 2>&1 \
            || status="failed (abi3audit)"
    fi
    if [ "$status" != ok ]; then
        failed+=("$target")
        echo "== $target" >&2
        for log in "$out"/*.log; do [ -s "$log" ] && { echo "-- $(basename "$log")" >&2; head -40 "$log" >&2; }; done
    fi
    printf '%-24s %-18s %-14s %4ds\n' "$target" "$status" "$(basename "$module")" $((SECONDS - start))
done
[ ${#failed[@]} -eq 0 ] || { echo "cross_compile: failed for ${failed[*]}" >&2; exit 1; }
