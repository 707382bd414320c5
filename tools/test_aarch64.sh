#!/usr/bin/env bash
# Run the suite on Linux aarch64 under emulation: an arm64 Debian 12 tree (mmdebstrap), its Python 3.11 run by
# qemu-user through binfmt_misc, the cross-compiled wheel installed there with the README's test extras, and the
# suite of a clean clone of HEAD.  Needs root, Debian's qemu-user-static and mmdebstrap, and PyPI (the arm64
# wheels of numpy, scikit-image, OpenCV, ...).
#
#   HISTEQ_ZIG_TARGET=aarch64-linux-gnu.2.28 tools/build_wheel.sh dist-aarch64/    (with Python 3.11)
#   tools/test_aarch64.sh dist-aarch64/histeq-*-cp311-*aarch64.whl [pytest arguments]
#
# ARM64_ROOT: where the Debian tree is made once and kept (default ~/.cache/histeq/arm64-bookworm).
set -euo pipefail

if [ "$#" -lt 1 ] || [ ! -f "$1" ]; then
    echo "usage: tools/test_aarch64.sh WHEEL [pytest arguments]  (a cp311 manylinux aarch64 wheel)" >&2
    exit 2
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
wheel=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
shift
tree=${ARM64_ROOT:-$HOME/.cache/histeq/arm64-bookworm}

if [ ! -x "$tree/usr/bin/python3.11" ]; then
    mkdir -p "$(dirname "$tree")"
    mmdebstrap --arch=arm64 --variant=apt --include=python3,python3-venv,ca-certificates bookworm "$tree"
fi
# The kernel runs arm64 programs through qemu once binfmt_misc knows them (a container may need it mounted).
if [ ! -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]; then
    [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    update-binfmts --enable qemu-aarch64
fi

work=$tree/tmp/histeq-test
rm -rf "$work"
mkdir -p "$work"
cleanup() {
    umount "$tree/dev/shm" "$tree/dev" "$tree/proc" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
git clone --quiet --no-hardlinks "$root" "$work/clean"
cp "$wheel" "$work/"
cp /etc/resolv.conf "$tree/etc/resolv.conf"
cp /etc/ssl/certs/ca-certificates.crt "$tree/etc/ssl/certs/ca-certificates.crt"  # this network's CAs
mount --bind /proc "$tree/proc"
mount --bind /dev "$tree/dev"
mount --bind /dev/shm "$tree/dev/shm"

inside=/tmp/histeq-test
chroot "$tree" /usr/bin/env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 PIP_CERT=/etc/ssl/certs/ca-certificates.crt /bin/sh -euc "
    uname -m
    python3 -m venv $inside/venv
    $inside/venv/bin/pip install --quiet --upgrade pip
    start=\$(date +%s)
    $inside/venv/bin/pip install --quiet '$inside/$(basename "$wheel")[test]'
    echo \"installed in \$((\$(date +%s) - start)) s\"
    cd $inside/clean
    start=\$(date +%s)
    status=0
    $inside/venv/bin/python -m pytest -q -p no:cacheprovider $* || status=\$?
    echo \"suite: \$((\$(date +%s) - start)) s under emulation\"
    exit \$status
"
