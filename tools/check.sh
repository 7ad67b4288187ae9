#!/usr/bin/env bash
# R CMD check on a built tarball. The tarball carries a copy of the workspace's
# Cargo.lock in src/rust, so the check builds the same crate versions (--locked).
# Usage: bash tools/check.sh   (prints the check's status lines)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cometr-cargo-target}"
OUT="$(mktemp -d)"
cp Cargo.lock src/rust/Cargo.lock
trap 'rm -f src/rust/Cargo.lock' EXIT
(cd "$OUT" && R CMD build --no-manual "$OLDPWD" >build.log 2>&1) || { cat "$OUT/build.log"; exit 1; }
rm -f src/rust/Cargo.lock
cd "$OUT"
_R_CHECK_FUTURE_FILE_TIMESTAMPS_=false NOT_CRAN=true \
  R CMD check --no-manual cometr_*.tar.gz >check.log 2>&1 || true
grep -E "^\* checking|^Status|WARNING|ERROR|NOTE" check.log | grep -vE "\.\.\. OK$" || true
echo "full log: $OUT/check.log"
grep -q "^Status: .*ERROR\|^Status: .*WARNING" check.log && exit 1 || exit 0
