# Sourced by the scripts: creates (once) and activates the project's virtual environment.
# The environment lives in a cache folder keyed by a hash of pyproject.toml, so repeated runs
# do not reinstall; a changed dependency list gets a fresh one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MIKO_CACHE_DIR:-$HOME/.cache/miko}"
PY="${PYTHON:-python3}"
HASH="$( (cat "$ROOT/pyproject.toml"; "$PY" --version) | sha256sum | cut -c1-12)"
VENV="${MIKO_VENV:-$CACHE/venv-$HASH}"
if [ ! -x "$VENV/bin/miko" ] || [ ! -f "$VENV/.complete" ]; then
  echo "== creating the Python environment in $VENV (first run: a few minutes, ~6 GB for torch)" >&2
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >&2
  "$VENV/bin/pip" install -q -e "$ROOT[dev]" >&2
  touch "$VENV/.complete"
else
  # The checkout may have moved (CI clones elsewhere): re-point the editable install cheaply.
  "$VENV/bin/pip" install -q --no-deps -e "$ROOT" >&2
fi
export PATH="$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export MIKO_DATA_DIR="${MIKO_DATA_DIR:-$ROOT/../shared/data}"
cd "$ROOT"
