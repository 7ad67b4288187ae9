#!/usr/bin/env bash
# Regenerate R/extendr-wrappers.R (from the Rust module) and man/ + NAMESPACE (roxygen2,
# reading the R6 classes from an installed copy built with --with-keep.source).
# Usage: bash tools/document.sh [library-dir]   (installs the package there)
set -euo pipefail
cd "$(dirname "$0")/.."
LIB="${1:-$(mktemp -d)}"
mkdir -p "$LIB"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/cometr-cargo-target}"
Rscript tools/make-wrappers.R >"$LIB/wrappers.log" 2>&1 || { cat "$LIB/wrappers.log"; exit 1; }
R CMD INSTALL --with-keep.source --library="$LIB" . >"$LIB/install.log" 2>&1 || { cat "$LIB/install.log"; exit 1; }
R_LIBS="$LIB" Rscript -e 'roxygen2::roxygenise(load_code = roxygen2::load_installed)' >"$LIB/roxygen.log" 2>&1 \
  || { cat "$LIB/roxygen.log"; exit 1; }
if grep -q "Warning" "$LIB/roxygen.log"; then cat "$LIB/roxygen.log"; fi
# Reinstall so the library holds the freshly generated NAMESPACE.
R CMD INSTALL --library="$LIB" . >"$LIB/install.log" 2>&1 || { cat "$LIB/install.log"; exit 1; }
