#!/usr/bin/env bash
# R CMD check --as-cran on the source tarball R users install (tools/build-tarball.sh:
# the crates vendored inside it, built offline with a private cargo home).
# The tarball's builds use their own target directories, as on CRAN: sharing one with
# the repository's builds would make each side recompile every crate.
# Needs qpdf (apt install qpdf), which --as-cran uses on the vignettes.
# Usage: bash tools/check.sh   (prints the check's status lines)
set -euo pipefail
cd "$(dirname "$0")/.."
unset CARGO_TARGET_DIR
OUT="$(mktemp -d)"
bash tools/build-tarball.sh "$OUT" --no-manual >"$OUT/build.log" 2>&1 || { cat "$OUT/build.log"; exit 1; }
# Tests that run the server as a process of its own need its binary, and the tarball holds
# no workspace to build it from: build it from this repository and say where it is.
if [ -z "${COMETR_SERVER_BIN:-}" ]; then
  BIN_TARGET="${XDG_CACHE_HOME:-$HOME/.cache}/cometr-cargo-target"
  cargo build --release --locked -p cometr-server --bin cometr-server \
    --target-dir "$BIN_TARGET" >"$OUT/server-build.log" 2>&1 || { cat "$OUT/server-build.log"; exit 1; }
  export COMETR_SERVER_BIN="$BIN_TARGET/release/cometr-server"
fi
cd "$OUT"
# No network for the CRAN incoming checks or the clock either: they would ask CRAN about
# the package and a time server for the time.
_R_CHECK_SYSTEM_CLOCK_=false _R_CHECK_CRAN_INCOMING_REMOTE_=false NOT_CRAN=true \
  R CMD check --as-cran --no-manual cometr_*.tar.gz >check.log 2>&1 || true
grep -E "^\* checking|^Status|WARNING|ERROR|NOTE" check.log | grep -vE "\.\.\. OK$" || true
echo "full log: $OUT/check.log"
grep -q "^Status: .*ERROR\|^Status: .*WARNING" check.log && exit 1 || exit 0
