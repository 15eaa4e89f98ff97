#!/usr/bin/env bash
# cli-bench.sh - `medge bench` on the tiny Gemma 3: the JSON report holds real speeds and the
# options it was given (load modes, a depth filled with random keys and values, an evaluated
# depth), and bad options fail with status 2.
set -u
M="$MEDGE_REF_DIR/gemma3-tiny/gguf/tiny-gemma3-Q4_K_S.gguf"
T="$MEDGE_TEST_TMP/cli-bench"
mkdir -p "$T"
fail=0
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }
# the value of a numeric JSON field (first occurrence)
num() { grep -o "\"$1\": [-0-9.]*" "$2" | head -1 | sed 's/.*: //'; }

check '"$MEDGE_BIN" bench --help > "$T/help.txt" && grep -q -- "--fill-depth" "$T/help.txt" && grep -q -- "--load" "$T/help.txt"' "bench --help"
for how in huge mmap read; do
  "$MEDGE_BIN" bench -m "$M" -p 8 -n 4 -r 1 -t 2 --load $how --json > "$T/$how.json" 2> "$T/$how.err"
  check '[ $? -eq 0 ]' "bench --load $how"
  check 'grep -q "\"tg\": {\"n\": 4, \"runs\": 1, \"median\": [0-9]" "$T/$how.json"' "tg run reported ($how)"
  check 'awk -v v="$(num peak_rss_bytes "$T/$how.json")" "BEGIN { exit !(v > 1000000) }"' "peak RSS reported ($how)"
done
check 'grep -q "\"load\": \"read\"" "$T/read.json" && grep -q "\"load\": \"mmap\"" "$T/mmap.json"' "load mode in the report"
# depth: evaluated, and filled with random rows (same context size, tg runs at that depth)
"$MEDGE_BIN" bench -m "$M" -p 0 -n 4 -r 1 -t 2 -c 128 -d 100 --fill-depth --json > "$T/fill.json" 2> "$T/fill.err"
check '[ $? -eq 0 ]' "bench --fill-depth: $(cat "$T/fill.err")"
check 'grep -q "\"depth\": 100, \"depth_filled\": true" "$T/fill.json"' "filled depth in the report"
check 'awk -v v="$(num median "$T/fill.json")" "BEGIN { exit !(v >= 0) }"' "filled depth speed"
check 'grep -q "\"tg\": {\"n\": 4, \"runs\": 1, \"median\": [0-9]" "$T/fill.json"' "tg after a filled depth"
"$MEDGE_BIN" bench -m "$M" -p 0 -n 4 -r 1 -t 1 -d 20 --json > "$T/eval.json" 2>/dev/null
check '[ $? -eq 0 ] && grep -q "\"depth\": 20, \"depth_filled\": false" "$T/eval.json"' "evaluated depth"
# the table names the filled depth
"$MEDGE_BIN" bench -m "$M" -p 0 -n 2 -r 1 -t 1 -c 64 -d 40 --fill-depth > "$T/fill.txt" 2>/dev/null
check 'grep -q "tg2 @ d40 (filled)" "$T/fill.txt"' "table row of a filled depth"
# bad options
"$MEDGE_BIN" bench -m "$M" --load sideways > /dev/null 2>&1
check '[ $? -eq 2 ]' "unknown --load value"
"$MEDGE_BIN" bench -m "$M" -c 16 -d 40 --fill-depth > /dev/null 2>&1
check '[ $? -eq 2 ]' "depth larger than the context"
exit $fail
