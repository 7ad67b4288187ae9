#!/bin/sh
# Run by src/Makevars and src/Makevars.win before cargo: print the versions of cargo
# and rustc that build the package (CRAN asks for both in the install log), and stop
# with a message saying what to do when either is missing or rustc is older than the
# crates' `rust-version`.
# Usage: sh tools/check-rust.sh <Cargo.toml that declares rust-version>

manifest="$1"

if ! command -v cargo >/dev/null 2>&1 || ! command -v rustc >/dev/null 2>&1; then
  cat >&2 <<'EOF'
------------------------------ RUST NOT FOUND ------------------------------
cometr is built from Rust sources and needs cargo and rustc on the PATH.
Install them with rustup (https://www.rust-lang.org/tools/install) or your
system's package manager (e.g. `apt install cargo` on Debian and Ubuntu),
then install cometr again.
----------------------------------------------------------------------------
EOF
  exit 1
fi

echo "using Rust package manager: '$(cargo --version)'"
echo "using Rust compiler: '$(rustc --version)'"

need=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' "$manifest" | head -n 1)
have=$(rustc --version | sed -n 's/^rustc \([0-9][0-9.]*\).*/\1/p')
[ -n "$need" ] && [ -n "$have" ] || exit 0

# Compare major, minor and patch as numbers: exits 0 when `have` is older.
if awk -v have="$have" -v need="$need" 'BEGIN {
  split(have, h, "."); split(need, n, ".")
  for (i = 1; i <= 3; i++) {
    if (h[i] + 0 > n[i] + 0) exit 1
    if (h[i] + 0 < n[i] + 0) exit 0
  }
  exit 1
}'; then
  cat >&2 <<EOF
------------------------------ RUST TOO OLD --------------------------------
cometr needs rustc $need or newer; this rustc is $have.
Update it with \`rustup update stable\` (or install a newer Rust from
https://www.rust-lang.org/tools/install), then install cometr again.
----------------------------------------------------------------------------
EOF
  exit 1
fi
