#!/usr/bin/env bash
# Build every distribution of the repository (aa-core, plugins/*/, examples/plugins/*/) as an sdist and
# a wheel built from that sdist, into one folder; then `twine check --strict` and the package-data check
# (scripts/check_dists.py: every tracked file of each import package is in its wheel).
#
#   scripts/build_all.sh [OUTDIR]        default OUTDIR: dist/ (emptied first)
#
# Needs `build` and `twine` (pip install -e '.[dev]'). Set AA_BUILD_NO_ISOLATION=1 to build with the
# current environment's setuptools instead of a fresh isolated one per build (faster, offline).
set -euo pipefail
cd "$(dirname "$0")/.."
out="$(realpath -m "${1:-dist}")"
rm -rf "$out"
mkdir -p "$out"
shopt -s nullglob
# in a git checkout, only committed projects (an untracked one is someone's work in progress)
tracked() { ! git rev-parse --git-dir >/dev/null 2>&1 || git ls-files --error-unmatch "$1/pyproject.toml" >/dev/null 2>&1; }
projects=(.)
for p in plugins/*/ examples/plugins/*/; do
    [ -f "$p/pyproject.toml" ] && tracked "${p%/}" && projects+=("${p%/}")
done
# aa-export's wheel carries the live page's runtime vendored from npm (scripts/vendor_web.py): check it is intact first
python scripts/vendor_web.py --check >&2
flags=()
[ "${AA_BUILD_NO_ISOLATION:-0}" = 1 ] && flags+=(--no-isolation)
start=$(date +%s.%N)
for p in "${projects[@]}"; do
    echo "== building $p" >&2
    # default mode: the sdist first, then the wheel from the unpacked sdist (proves the sdist is complete)
    python -m build "${flags[@]}" --outdir "$out" "$p" >"$out/.build.log" 2>&1 || { cat "$out/.build.log" >&2; exit 1; }
done
rm -f "$out/.build.log"
seconds=$(python -c "print(f'{$(date +%s.%N) - $start:.1f}')")
echo "== built ${#projects[@]} distributions in ${seconds} s" >&2
twine check --strict "$out"/*
python scripts/check_dists.py --build-seconds "$seconds" "$out" "${projects[@]}"
