# Sourced by the scripts: creates (once) and activates the project's virtual environment.
# The environment lives in a cache folder keyed by a hash of the dependency lists in pyproject.toml, so repeated runs
# do not reinstall; a changed dependency list gets a fresh one. The caller names the extras it
# needs in MIKO_ENV_EXTRAS (the main job none; the tests dev,local,annotate,ray); each is installed
# into the same environment the first time a script needs it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MIKO_CACHE_DIR:-$HOME/.cache/miko}"
PY="${PYTHON:-python3}"
EXTRAS="${MIKO_ENV_EXTRAS:-}"
HASH="$("$PY" - "$ROOT/pyproject.toml" <<'PYEOF' | sha256sum | cut -c1-12
import sys, tomllib
project = tomllib.load(open(sys.argv[1], "rb"))["project"]
print(sys.version, project["dependencies"], project.get("optional-dependencies"))
PYEOF
)"
VENV="${MIKO_VENV:-$CACHE/venv-$HASH}"
missing=()
for extra in ${EXTRAS//,/ }; do
  [ -f "$VENV/.complete-$extra" ] || missing+=("$extra")
done
if [ ! -x "$VENV/bin/miko" ] || [ ! -f "$VENV/.complete" ]; then
  echo "== creating the Python environment in $VENV (first run: ~3 minutes on a fast network," \
       "~6 GB: PyPI's torch is the CUDA build${EXTRAS:+; extras $EXTRAS}$([[ ",$EXTRAS," == *,local,* ]] && echo ', llama-cpp-python compiles: ~13 minutes more'))" >&2
  rm -rf "$VENV"
  mkdir -p "$CACHE"
  "$PY" -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip >&2
  if [ ${#missing[@]} -gt 0 ]; then
    spec="$ROOT[$(IFS=,; echo "${missing[*]}")]"
  else
    spec="$ROOT"
  fi
  "$VENV/bin/pip" install -q -e "$spec" >&2
  touch "$VENV/.complete"
  for extra in "${missing[@]}"; do touch "$VENV/.complete-$extra"; done
else
  if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing the extras ${missing[*]} into $VENV (once)" >&2
    "$VENV/bin/pip" install -q -e "$ROOT[$(IFS=,; echo "${missing[*]}")]" >&2
    for extra in "${missing[@]}"; do touch "$VENV/.complete-$extra"; done
  fi
  if [ "$(cd / && "$VENV/bin/python" -c 'import kg_builder, pathlib; print(pathlib.Path(kg_builder.__file__).parent.parent)' 2>/dev/null)" != "$ROOT" ]; then
    # The checkout moved (CI clones elsewhere): re-point the editable install, no downloads.
    "$VENV/bin/pip" install -q --no-deps -e "$ROOT" >/dev/null 2>&1 \
      || "$VENV/bin/pip" install -q --no-deps -e "$ROOT" >&2
  fi
fi
export PATH="$VENV/bin:$PATH"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
export MIKO_DATA_DIR="${MIKO_DATA_DIR:-$ROOT/../shared/data}"
cd "$ROOT"
