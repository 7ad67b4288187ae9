#!/usr/bin/env bash
# Build the source tarball R users install as they install any CRAN package: the crates
# are vendored inside it (src/rust/vendor.tar.xz), next to the lock file and the release
# profile, so `R CMD INSTALL cometr_<version>.tar.gz` builds with no network and no
# cargo registry (src/Makevars).
#
# In the repository the Cargo workspace root (members, release profile, Cargo.lock) is at
# the package top, where R CMD build leaves it out. The tarball is therefore built from a
# staged copy in which src/rust is the workspace root: it gets the workspace section and
# the profile of ./Cargo.toml, with member paths made relative to it, and a copy of
# ./Cargo.lock. The working tree is not modified.
#
# Usage: bash tools/build-tarball.sh [output-dir] [R CMD build options...]
# Environment: XZ_OPT (xz options, default -6 -T2).
set -euo pipefail
cd "$(dirname "$0")/.."
TOP="$PWD"
OUT="$(mkdir -p "${1:-.}" && cd "${1:-.}" && pwd)"
shift || true
command -v cargo >/dev/null || export PATH="$PATH:$HOME/.cargo/bin"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
PKG="$(sed -n 's/^Package: *//p' DESCRIPTION)"
STAGE="$WORK/$PKG"
mkdir "$STAGE"

# The package without version control and build output; R CMD build then applies
# .Rbuildignore.
tar -C "$TOP" --exclude=./.git --exclude=./target --exclude=./src/rust/target \
  --exclude=./src/rust/lib --exclude=./src/rust/vendor --exclude=./src/rust/cargo-home \
  --exclude='./src/*.o' --exclude='./src/*.so' --exclude='./src/*.dll' \
  --exclude='./*.Rcheck' --exclude="./${PKG}_*.tar.gz" -cf - . | tar -C "$STAGE" -xf -

RUST="$STAGE/src/rust"
{
  echo
  echo "# The workspace: in the repository this is the Cargo.toml at the package top."
  grep -v '^#' Cargo.toml | sed -e 's#"src/rust"#"."#' -e 's#"src/rust/#"#g'
} >>"$RUST/Cargo.toml"
cp Cargo.lock "$RUST/Cargo.lock"
rm -f "$STAGE/Cargo.toml" "$STAGE/Cargo.lock"

# Vendor what the lock file names, from the local registry cache when it holds
# everything, else from the registry.
echo "* vendoring crates"
(cd "$RUST" && { cargo vendor --locked --offline vendor >/dev/null 2>"$WORK/vendor.log" ||
  cargo vendor --locked vendor >/dev/null 2>"$WORK/vendor.log"; }) || {
  cat "$WORK/vendor.log"
  exit 1
}

# CRAN asks packages to name the authors and licenses of the code they bundle.
echo "* listing the vendored crates in inst/AUTHORS"
(cd "$RUST" && cargo metadata --format-version 1 --locked --offline) >"$WORK/metadata.json"
cat >"$WORK/authors.R" <<'RCODE'
args <- commandArgs(TRUE)
`%||%` <- function(x, y) if (is.null(x)) y else x
meta <- jsonlite::fromJSON(args[1], simplifyVector = FALSE)
crates <- Filter(function(p) !(p$id %in% unlist(meta$workspace_members)), meta$packages)
crates <- crates[order(vapply(crates, function(p) paste(p$name, p$version), ""))]
line <- function(p) {
  authors <- paste(unlist(p$authors), collapse = ", ")
  if (!nzchar(authors)) authors <- "the authors named in the crate's repository"
  sprintf("- %s %s (%s): %s", p$name, p$version, p$license %||% "see the crate", authors)
}
dir.create(dirname(args[2]), showWarnings = FALSE)
writeLines(c(
  "The source package bundles these Rust crates in src/rust/vendor.tar.xz. Their authors",
  "hold the copyright; each crate's license is given in parentheses, and its full text",
  "is in the crate's folder in that archive.",
  "", vapply(crates, line, "")
), args[2])
RCODE
Rscript "$WORK/authors.R" "$WORK/metadata.json" "$STAGE/inst/AUTHORS"

# Windows import libraries are only needed for the one Windows target the package
# builds for (x86_64-pc-windows-gnu, src/Makevars.win); the others' are dropped, with
# their file checksums, which cargo would otherwise verify.
for d in "$RUST"/vendor/windows_*; do
  case "$(basename "$d")" in
    windows_x86_64_gnu | windows_x86_64_gnu-[0-9]*) continue ;;
  esac
  [ -d "$d/lib" ] || continue
  rm -rf "${d:?}/lib"/*
  sed -i.bak -E 's/^\{"files":\{.*\},"package":/{"files":{},"package":/' "$d/.cargo-checksum.json"
  rm -f "$d/.cargo-checksum.json.bak"
done

echo "* compressing src/rust/vendor.tar.xz"
XZ_OPT="${XZ_OPT:--6 -T2}" tar -C "$RUST" -cJf "$RUST/vendor.tar.xz" vendor
rm -rf "$RUST/vendor"

cd "$OUT"
R CMD build "$@" "$STAGE"
