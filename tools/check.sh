#!/usr/bin/env bash
# R CMD check --as-cran on the source tarball R users install (tools/build-tarball.sh:
# the crates vendored inside it, built offline with a private cargo home).
# CARGO_TARGET_DIR (default: a cache outside the clone) lets the build of the vignettes
# and the check's installation share compiled crates.
# Usage: bash tools/check.sh   (prints the check's status lines)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cometr-cargo-target}"
OUT="$(mktemp -d)"
bash tools/build-tarball.sh "$OUT" --no-manual >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
cd "$OUT"
# No network for the CRAN incoming checks either: they would ask CRAN about the package.
_R_CHECK_FUTURE_FILE_TIMESTAMPS_=false _R_CHECK_CRAN_INCOMING_REMOTE_=false NOT_CRAN=true \
  R CMD check --as-cran --no-manual cometr_*.tar.gz >check.log 2>&1 || true
grep -E "^\* checking|^Status|WARNING|ERROR|NOTE" check.log | grep -vE "\.\.\. OK$" || true
echo "full log: $OUT/check.log"
grep -q "^Status: .*ERROR\|^Status: .*WARNING" check.log && exit 1 || exit 0
