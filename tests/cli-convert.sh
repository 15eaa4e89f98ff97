#!/usr/bin/env bash
# cli-convert.sh - the `medge convert` command: help, argument errors, the printed SHA-256 equals
# the file's, F16 output equals llama.cpp's file when given its model name, failures exit 1 and
# leave nothing behind.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
HF="$MEDGE_REF_DIR/gemma3-tiny/hf"
T="$MEDGE_TEST_TMP/cli-convert"
rm -rf "$T" && mkdir -p "$T"

"$MEDGE_BIN" convert --help > "$T/help.txt"; check '[ $? = 0 ]'
check 'grep -q -- "--outtype" "$T/help.txt" && grep -q -- "--mmproj" "$T/help.txt" && grep -q -- "--vocab-only" "$T/help.txt"'
"$MEDGE_BIN" convert 2>/dev/null; check '[ $? = 2 ]'
"$MEDGE_BIN" convert "$HF" -o "$T/x.gguf" --outtype q3 2>/dev/null; check '[ $? = 2 ]'
check '[ ! -e "$T/x.gguf" ]'

out=$("$MEDGE_BIN" convert "$HF" -o "$T/f16.gguf" --mmproj "$T/mm.gguf" --outtype f16 --name "Tiny Gemma3" -t 2 -q)
check '[ $? = 0 ]'
sum=$(sha256sum "$T/f16.gguf" | cut -d" " -f1)
check 'echo "$out" | grep -q "^$sum  $T/f16.gguf"'
ref=$(sha256sum "$MEDGE_REF_DIR/gemma3-tiny/gguf/tiny-gemma3-f16.gguf" | cut -d" " -f1)
check '[ "$sum" = "$ref" ]'
msum=$(sha256sum "$T/mm.gguf" | cut -d" " -f1)
check 'echo "$out" | grep -q "^$msum  $T/mm.gguf"'

mkdir -p "$T/bad"
printf '{"model_type": "bert"}' > "$T/bad/config.json"
"$MEDGE_BIN" convert "$T/bad" -o "$T/bad/out.gguf" -q 2> "$T/err.txt"; check '[ $? = 1 ]'
check 'grep -q "config.json" "$T/err.txt"'
check '[ -z "$(ls "$T/bad" | grep out)" ]'
exit $fail
