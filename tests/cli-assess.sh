#!/usr/bin/env bash
# medge assess from the command line: rules-only triage, a model run with --json and --audit,
# and the errors a user can make.
set -u
fail=0
check() { if ! eval "$2"; then echo "FAILED: $1"; fail=1; fi; }
M="$MEDGE_BIN"
T="$MEDGE_TEST_TMP/assess"
mkdir -p "$T"
rm -f "$T/audit.jsonl"

out=$("$M" assess --rules-only -s "2 year old, convulsions this morning, not able to drink, RR 52" --json)
check "rules-only json" '[[ "$out" == *"\"urgency_from_rules\": \"emergency\""* && "$out" == *"child_danger_sign"* && "$out" == *"fast_breathing"* ]]'
out=$("$M" assess --rules-only -s "runny nose for a day")
check "rules-only says no rule fired" '[[ "$out" == *"No rule fired"* ]]'

out=$("$M" assess -q -m "$MEDGE_REF_DIR/gemma3-tiny/gguf/tiny-gemma3-Q4_K_S.gguf" -t 2 --json --audit "$T/audit.jsonl" \
      -s "pregnant, 30 weeks, severe headache and blurred vision. BP 165/110")
check "model run exit code" '[ $? -eq 0 ]'
check "model run json" '[[ "$out" == *"\"urgency\": \"emergency\""* && "$out" == *"pregnancy_danger"* && "$out" == *"\"model\": {"* ]]'
check "audit line written" '[ "$(wc -l < "$T/audit.jsonl")" -eq 1 ] && grep -q "30 weeks" "$T/audit.jsonl"'

"$M" assess -s "cough" 2>"$T/err" >/dev/null
check "missing model is an error" '[ $? -eq 2 ] && grep -q "required" "$T/err"'
"$M" assess -m /nonexistent.gguf -s "cough" 2>"$T/err" >/dev/null
check "missing file names it" '[ $? -eq 1 ] && grep -q "/nonexistent.gguf" "$T/err"'
"$M" assess -m "$MEDGE_REF_DIR/gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf" -s "cough" 2>"$T/err" >/dev/null
check "wrong architecture refused" '[ $? -eq 1 ] && [ -s "$T/err" ]'
"$M" assess --rules-only 2>"$T/err" >/dev/null
check "no case is an error" '[ $? -eq 2 ]'
"$M" assess --help | grep -q "not a diagnosis"
check "help" '[ $? -eq 0 ]'
[ $fail -eq 0 ] && echo "cli-assess: all passed"
exit $fail
