#!/bin/sh
# Run a Python script with the official Comet SDK (comet_ml), installed once into a
# virtualenv under ${XDG_CACHE_HOME:-$HOME/.cache}/cometr-venv and reused after that.
# Usage: tools/python-sdk.sh script.py [args...]
# Exit status 90: python3 missing; 91: the virtualenv or `pip install comet_ml` failed.
set -u
# R puts its own library folders first on LD_LIBRARY_PATH; a Python built elsewhere can
# then load the wrong shared libraries (seen: _ssl failing with an undefined symbol).
unset LD_LIBRARY_PATH
venv="${XDG_CACHE_HOME:-$HOME/.cache}/cometr-venv"
command -v python3 >/dev/null 2>&1 || exit 90
if ! "$venv/bin/python" -c "import comet_ml" >/dev/null 2>&1; then
  python3 -m venv "$venv" >&2 || exit 91
  "$venv/bin/pip" install --quiet comet_ml >&2 || exit 91
  "$venv/bin/python" -c "import comet_ml" >/dev/null 2>&1 || exit 91
fi
exec "$venv/bin/python" "$@"
