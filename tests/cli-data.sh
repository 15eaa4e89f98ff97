#!/usr/bin/env bash
# cli-data.sh - the data shipped in data/ is usable: the clinical MCQ set validates with
# `medge eval mcq --check` (34 questions, all with their answers).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$("$MEDGE_BIN" eval mcq --check -f "$here/data/mcq/clinical-mcq.jsonl")"
echo "$out"
grep -q ": 34 questions, 1 with 3 options, 33 with 4 options" <<<"$out"
# a broken copy is refused with the line named
bad="$MEDGE_TEST_TMP/bad-mcq.jsonl"
{ head -n 2 "$here/data/mcq/clinical-mcq.jsonl"; echo '{"question": "x", "options": ["a", "b"]}'; } > "$bad"
if "$MEDGE_BIN" eval mcq --check -f "$bad" 2> "$MEDGE_TEST_TMP/bad-mcq.err"; then
  echo "accepted a question without an answer"; exit 1
fi
grep -q "line 3: no answer" "$MEDGE_TEST_TMP/bad-mcq.err"
echo "1 passed, 0 failed"
