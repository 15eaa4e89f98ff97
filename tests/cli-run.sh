#!/usr/bin/env bash
# cli-run.sh - end-to-end checks of `medge run`, `medge chat` and `medge logits` on the tiny
# Gemma 3: greedy output identical across thread counts and batch sizes, stop strings, chat
# turns, the logits file format, and clear failures (context too small, bad token ids, wrong
# model kind, missing file).
set -u
M="$MEDGE_REF_DIR/gemma3-tiny/gguf/tiny-gemma3-Q4_K_S.gguf"
F16="$MEDGE_REF_DIR/gemma3-tiny/gguf/tiny-gemma3-f16.gguf"
T="$MEDGE_TEST_TMP/cli-run"
mkdir -p "$T"
fail=0
N=24
[ -n "${MEDGE_SANITIZED:-}" ] && N=8   # fewer tokens under sanitizers
check() { if ! eval "$1"; then echo "FAIL: $2"; fail=1; fi; }

for cmd in run chat logits; do
  check '"$MEDGE_BIN" $cmd --help > "$T/help.txt" && grep -q -- "-m" "$T/help.txt"' "$cmd --help"
done

P="Patient: fever for three days, cough, and shortness of breath. What could it be?"
"$MEDGE_BIN" run -m "$M" -p "$P" --chat -n $N --temp 0 -t 1 -b 512 > "$T/g1.txt" 2> "$T/g1.err"
check '[ $? -eq 0 ]' "run t=1"
"$MEDGE_BIN" run -m "$M" -p "$P" --chat -n $N --temp 0 -t 2 -b 1 > "$T/g2.txt" 2> "$T/g2.err"
check '[ $? -eq 0 ]' "run t=2 b=1"
"$MEDGE_BIN" run -m "$M" -p "$P" --chat -n $N --temp 0 -t 2 -b 7 > "$T/g3.txt" 2>/dev/null
check 'cmp -s "$T/g1.txt" "$T/g2.txt" && cmp -s "$T/g1.txt" "$T/g3.txt"' "greedy output differs across threads/batch sizes"
check '[ -s "$T/g1.txt" ]' "run printed nothing"
check 'grep -q "memory:" "$T/g1.err" && grep -q "tok/s" "$T/g1.err" && grep -q "load" "$T/g1.err"' "run prints memory and speeds"
# same seed, same sampled text
"$MEDGE_BIN" run -m "$M" -p "$P" -n 16 --temp 1 --seed 7 > "$T/s1.txt" 2>/dev/null
"$MEDGE_BIN" run -m "$M" -p "$P" -n 16 --temp 1 --seed 7 -t 2 > "$T/s2.txt" 2>/dev/null
check 'cmp -s "$T/s1.txt" "$T/s2.txt"' "seeded sampling not reproducible"
# a stop string taken from the greedy output ends the text before it
stop=$(head -c 40 "$T/g1.txt" | tail -c 6)
if [ -n "$stop" ]; then
  "$MEDGE_BIN" run -m "$M" -p "$P" --chat -n $N --temp 0 --stop "$stop" > "$T/st.txt" 2>/dev/null
  check '[ $? -eq 0 ] && ! grep -qF -- "$stop" "$T/st.txt" && [ $(wc -c < "$T/st.txt") -lt $(wc -c < "$T/g1.txt") ]' "stop string"
fi
# chat: two turns, the second reuses nothing it cannot but answers
printf 'Hello, I have a headache.\nIt started yesterday.\n/exit\n' | "$MEDGE_BIN" chat -m "$F16" -n 8 --temp 0 --system "You are a careful doctor." > "$T/chat.txt" 2> "$T/chat.err"
check '[ $? -eq 0 ] && [ $(grep -c "generated" "$T/chat.err") -eq 2 ]' "chat two turns"

# logits: format
seq="$MEDGE_REF_DIR/gemma3-tiny/logits/seq-chat.txt"
"$MEDGE_BIN" logits -m "$F16" --tokens "$seq" -o "$T/l.bin" -t 2
check '[ $? -eq 0 ] && [ $(stat -c %s "$T/l.bin") -eq $((8 + 41 * 4160 * 4)) ]' "logits file size"
check 'cmp -n 8 "$T/l.bin" "$MEDGE_REF_DIR/gemma3-tiny/logits/logits-f16-chat.bin"' "logits header"

# failures: non-zero exit and a message
echo "2 105 99999 7" > "$T/bad-ids.txt"
"$MEDGE_BIN" logits -m "$F16" --tokens "$T/bad-ids.txt" -o "$T/x.bin" 2> "$T/e1.txt"
check '[ $? -ne 0 ] && grep -q "99999" "$T/e1.txt"' "token id out of range"
"$MEDGE_BIN" run -m "$M" -p "$P" -c 16 2> "$T/e2.txt" > /dev/null
check '[ $? -ne 0 ] && grep -qi "context" "$T/e2.txt"' "prompt longer than the context"
"$MEDGE_BIN" run -m "$MEDGE_REF_DIR/gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf" -p hi 2> "$T/e3.txt" > /dev/null
check '[ $? -ne 0 ] && grep -q "clip" "$T/e3.txt"' "mmproj as text model"
"$MEDGE_BIN" run -m "$T/does-not-exist.gguf" -p hi 2> "$T/e4.txt" > /dev/null
check '[ $? -ne 0 ] && [ -s "$T/e4.txt" ]' "missing file"
head -c 100000 "$F16" > "$T/trunc.gguf"
"$MEDGE_BIN" run -m "$T/trunc.gguf" -p hi 2> "$T/e5.txt" > /dev/null
check '[ $? -ne 0 ] && [ -s "$T/e5.txt" ]' "truncated file"
"$MEDGE_BIN" run -m "$M" 2> /dev/null > /dev/null
check '[ $? -eq 2 ]' "missing prompt is a usage error"

rm -rf "$T"
exit $fail
