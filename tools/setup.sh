#!/usr/bin/env bash
# Install what building and testing cometr needs on Debian 12, skipping what is there:
# R and R packages from Debian's apt (CRAN is not needed), xz for the source tarball's
# vendored crates, qpdf for tools/check.sh, and Rust's rustfmt/clippy.
set -euo pipefail
# r-cran-png writes the images log_image() makes of arrays; r-cran-ggplot2 is what
# log_figure() and plot() of an experiment use when installed, and their tests need it.
# python3 and python3-venv: the tests compare with Comet's Python SDK in a virtualenv
# (tests/testthat/fixtures/python/sdk.sh) and fail, never skip, without them.
# chromium: tests/testthat/test-dashboard.R drives the local server's dashboard in it,
# headless, and tools/dashboard-screenshots.R takes the vignette's pictures with it.
PKGS="xz-utils qpdf r-base-core r-base-dev r-cran-r6 r-cran-rlang r-cran-cli r-cran-jsonlite r-cran-testthat r-cran-withr r-cran-roxygen2 r-cran-processx r-cran-knitr r-cran-rmarkdown r-cran-png r-cran-ggplot2 python3 python3-venv chromium"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  echo "installing:$missing"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
command -v cargo >/dev/null || export PATH="$HOME/.cargo/bin:$PATH"
if command -v rustup >/dev/null; then
  cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt >/dev/null 2>&1 || true
  cargo clippy --version >/dev/null 2>&1 || rustup component add clippy >/dev/null 2>&1 || true
fi
