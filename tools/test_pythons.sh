#!/usr/bin/env bash
# The README's test command on every CPython this machine has: for each one, a fresh virtual environment,
# `pip install ".[test]"` from a clean clone of the committed HEAD, and pytest; then one line per Python.
#
#   tools/test_pythons.sh                 every supported version found (3.9 to 3.13)
#   tools/test_pythons.sh 3.9 3.13        those versions only
#   tools/test_pythons.sh --which 3.12    the interpreter it would use, or exit 1
#
# An interpreter is looked up as pythonX.Y on the PATH (one that runs), then in pyenv's versions.  A version not found is
# reported as such, not as a failure; any version that fails makes the exit status 1.  Each run's output goes
# to a log file named in the table.
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.9 3.10 3.11 3.12 3.13)

find_python() {
    # One that runs: pyenv's shims are on the PATH for every version, but run only the versions enabled.
    local version=$1 found
    found=$(command -v "python$version" 2>/dev/null) && "$found" --version >/dev/null 2>&1 && {
        echo "$found"
        return
    }
    if command -v pyenv >/dev/null 2>&1; then
        for found in "$(pyenv root)"/versions/"$version".*/bin/python"$version"; do
            [ -x "$found" ] && { echo "$found"; return; }
        done
    fi
    return 1
}

if [ "${1:-}" = "--which" ]; then  # tools/test_pythons.sh --which 3.12: that interpreter's path
    find_python "$2" || { echo "test_pythons: no Python $2 here (PATH, pyenv)" >&2; exit 1; }
    exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git clone --quiet --no-hardlinks "$root" "$work/clean"
logs=${HISTEQ_LOG_DIR:-$(mktemp -d)}
status=0
rows=()
for version in "${versions[@]}"; do
    if ! python=$(find_python "$version"); then
        rows+=("| $version | not found | | |")
        continue
    fi
    log="$logs/python$version.log"
    start=$(date +%s)
    (
        set -e
        "$python" -m venv "$work/venv$version"
        . "$work/venv$version/bin/activate"
        python -m pip install --quiet --upgrade pip
        cd "$work/clean"
        pip install --quiet ".[test]"
        python -m pytest -q -p no:cacheprovider
    ) > "$log" 2>&1
    result=$?
    summary=$(grep -E "^(=+ )?[0-9]+ (passed|failed)" "$log" | tail -1 | tr -d '=' | sed 's/^ *//; s/ *$//')
    [ "$result" -eq 0 ] || status=1
    rows+=("| $("$python" --version 2>&1 | cut -d' ' -f2) | $([ "$result" -eq 0 ] && echo passed || echo FAILED) | ${summary:-see the log} | $(( $(date +%s) - start )) s |")
    rm -rf "$work/venv$version"
done

echo
echo "| Python | result | pytest | time (install + tests) |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo "logs: $logs"
exit "$status"
