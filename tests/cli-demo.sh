#!/usr/bin/env bash
# The README's first command runs `medge demo`: every step must run on a fresh machine.
set -u
out=$("$MEDGE_BIN" demo -o "$MEDGE_TEST_TMP/demo" -t 2 2>&1)
rc=$?
echo "$out" | tail -40
[ $rc -eq 0 ] || { echo "FAILED: medge demo exited with $rc"; exit 1; }
for s in "1/6" "2/6" "3/6" "4/6" "5/6" "6/6" "all steps ran" "URGENCY:"; do
  [[ "$out" == *"$s"* ]] || { echo "FAILED: demo output lacks '$s'"; exit 1; }
done
# generated models are removed unless --keep
[ ! -e "$MEDGE_TEST_TMP/demo/model-Q4_K_S.gguf" ] || { echo "FAILED: demo left its models behind"; exit 1; }
echo "cli-demo: passed"
