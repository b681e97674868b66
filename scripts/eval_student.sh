#!/usr/bin/env bash
# The student's `miko eval` on the posts it never saw (the validation split by post that its
# manifest names), beside the base model given the same retrieved examples, and the four
# baselines `miko eval` prints on the same pairs (constant, random reference, nearest and
# medoid reference of the most similar other posts). The in-context examples come from the
# training posts only (the reference file less the validation posts).
#   ./scripts/eval_student.sh [STUDENT_DIR (default: the packaged student)] [WORK_DIR]
# Writes WORK_DIR/{student,base}.jsonl (the builds) and {student,base}-eval.{txt,json}.
export MIKO_ENV_EXTRAS="${MIKO_ENV_EXTRAS:-dev,local,student}"
source "$(dirname "$0")/env.sh"
STUDENT="${1:-$ROOT/kg_builder/_resources/student}"
WORK="${2:-$(mktemp -d)}"
REFS="${MIKO_EVAL_REFERENCES:-$MIKO_DATA_DIR/miko/train.json}"
mkdir -p "$WORK/valid" "$WORK/pool"
# The file names keep the split (a MIKO post's id is miko:<file stem>:<image stem>).
python - "$STUDENT/manifest.json" "$REFS" "$WORK" <<'PY'
import json, sys
from pathlib import Path
from kg_builder.inputs.readers import _safe_stem as stem

manifest, refs, work = json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]), Path(sys.argv[3])
valid = set(manifest["data"]["valid_post_ids"])
posts = json.loads(refs.read_text(encoding="utf-8"))
held = [p for p in posts if f"miko:{refs.stem}:{stem(p)}" in valid]
pool = [p for p in posts if f"miko:{refs.stem}:{stem(p)}" not in valid]
(work / "valid" / refs.name).write_text(json.dumps(held), encoding="utf-8")
(work / "pool" / refs.name).write_text(json.dumps(pool), encoding="utf-8")
print(f"{len(held)} validation posts of {len(valid)} in the manifest; {len(pool)} example posts",
      file=sys.stderr)
PY
unset MIKO_LLM_BASE_URL MIKO_STUDENT_BASE_URL
for who in student base; do
  if [ "$who" = student ]; then student="$STUDENT"; else student=base; fi
  MIKO_STUDENT="$student" MIKO_STUDENT_EXAMPLES="$WORK/pool/$(basename "$REFS")" \
    miko build "$WORK/valid/$(basename "$REFS")" --format miko --out "$WORK/$who.jsonl" \
    > "$WORK/$who-build.log" 2>&1 || echo "$who: miko build exited $? (see $WORK/$who-build.log)"
  tail -4 "$WORK/$who-build.log"
  miko eval "$WORK/$who.jsonl" --references "$REFS" --json-out "$WORK/$who-eval.json" >/dev/null
  miko eval "$WORK/$who.jsonl" --references "$REFS" --per-post "$WORK/$who-pairs.csv" \
    | tee "$WORK/$who-eval.txt"
done
echo "builds and reports in $WORK"
