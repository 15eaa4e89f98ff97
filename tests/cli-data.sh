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

# the calibration corpus: six languages, regenerable, >= 100k tokens with the Gemma 3 vocabulary
for l in en fr es pt sw hi; do
  test -s "$here/data/calibration/clinical-$l.txt" || { echo "missing clinical-$l.txt"; exit 1; }
done
if command -v python3 >/dev/null; then
  gen="$MEDGE_TEST_TMP/calib-gen"
  rm -rf "$gen"; mkdir -p "$gen"
  cp "$here/data/calibration/generate.py" "$gen/"
  python3 "$gen/generate.py"
  for l in en fr es pt sw hi; do
    cmp "$gen/clinical-$l.txt" "$here/data/calibration/clinical-$l.txt"
  done
fi
if [ -n "${MEDGE_SANITIZED:-}" ]; then
  # under the sanitizers: one language only (Swahili, ~24k tokens)
  n=$("$MEDGE_BIN" tokenize -m "$MEDGE_REF_DIR/tokenizer/gemma3-vocab.gguf" -f "$here/data/calibration/clinical-sw.txt" --ids | tr ',' '\n' | wc -l)
  echo "clinical-sw.txt: $n tokens"
  test "$n" -ge 20000
  echo "2 passed, 0 failed"
  exit 0
fi
n=$(cat "$here"/data/calibration/clinical-*.txt | "$MEDGE_BIN" tokenize -m "$MEDGE_REF_DIR/tokenizer/gemma3-vocab.gguf" -f - --ids | tr ',' '\n' | wc -l)
echo "calibration corpus: $n tokens"
test "$n" -ge 100000
echo "2 passed, 0 failed"
