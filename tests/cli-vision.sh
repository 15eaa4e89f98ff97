#!/usr/bin/env bash
# cli-vision.sh - image prompts through the medge command: logits / run / chat with --mmproj and
# --image on the tiny model (PNG and a DICOM file), and every loud failure: an image without
# the encoder, an mmproj that is not one, an undecodable image, more markers than images.
set -u
R="$MEDGE_REF_DIR/gemma3-tiny"
T="$MEDGE_TEST_TMP/cli-vision"
SRC="$(cd "$(dirname "$0")/.." && pwd)"
mkdir -p "$T"
fail=0
M="$R/gguf/tiny-gemma3-Q8_0.gguf"
MM="$R/gguf/mmproj-tiny-gemma3-f32.gguf"
IMG="$R/vision/test-image-224.png"
P=$'<start_of_turn>user\nDescribe this chest X-ray: <__media__><end_of_turn>\n<start_of_turn>model\n'

expect() { # expect CODE PATTERN -- command...
    local code=$1 pat=$2
    shift 3
    "$@" >"$T/out" 2>"$T/err"
    local rc=$?
    if [ "$rc" != "$code" ] || { [ -n "$pat" ] && ! grep -q -- "$pat" "$T/out" "$T/err"; }; then
        echo "FAIL (rc $rc, wanted $code and '$pat'): $*"
        cat "$T/err"
        fail=1
    fi
}

# logits of an image prompt: one position of n_vocab floats, finite
expect 0 "" -- "$MEDGE_BIN" logits -m "$M" --mmproj "$MM" --image "$IMG" --prompt "$P" -o "$T/mm.bin" -t 2
size=$(stat -c %s "$T/mm.bin" 2>/dev/null || echo 0)
[ "$size" = $((8 + 4 * 4160)) ] || { echo "FAIL: logits file has $size bytes"; fail=1; }
# the image changes the answer: without it (same text) the logits differ
expect 0 "" -- "$MEDGE_BIN" logits -m "$M" --prompt "${P/<__media__>/}" -o "$T/text.bin" -t 2
cmp -s "$T/mm.bin" "$T/text.bin" && { echo "FAIL: image made no difference"; fail=1; }

# run and chat with an image (PNG and a DICOM file from the fuzz corpus)
expect 0 "images: 1 encoded" -- "$MEDGE_BIN" run -m "$M" --mmproj "$MM" --image "$IMG" -p "What is it?" --chat -n 4 --temp 0 -t 2
expect 0 "images: 1 encoded" -- "$MEDGE_BIN" run -m "$M" --mmproj "$MM" --image "$SRC/fuzz/corpus/dicom/dicom-16bit-signed.dcm" -p "<__media__> CT" -n 2 --temp 0
printf 'What is this?\nAnd now?\n' >"$T/chat.in"
expect 0 "reused" -- bash -c "\"$MEDGE_BIN\" chat -m \"$M\" --mmproj \"$MM\" --image \"$IMG\" -n 3 --temp 0 < \"$T/chat.in\""

# medge vision: the encoder alone, timed; its embeddings written and compared with llama.cpp's
expect 0 "usage: medge vision" -- "$MEDGE_BIN" vision --help
expect 0 "encode median" -- "$MEDGE_BIN" vision --mmproj "$MM" --image "$IMG" -t 2 -r 2 -o "$T/v.embd" \
    --compare "$R/vision/mm-tiny-f32.embd"
grep -q "cosine 1.000000" "$T/out" || { echo "FAIL: medge vision embeddings differ from mm-tiny-f32.embd"; cat "$T/out"; fail=1; }
size=$(stat -c %s "$T/v.embd" 2>/dev/null || echo 0)
[ "$size" = $((8 + 4 * 16 * 256)) ] || { echo "FAIL: embeddings file has $size bytes"; fail=1; }
cmp -s <(head -c 8 "$T/v.embd") <(head -c 8 "$R/vision/mm-tiny-f32.embd") || { echo "FAIL: embd header"; fail=1; }
expect 0 "tokens of 256" -- "$MEDGE_BIN" vision --mmproj "$MM" -t 1   # built-in synthetic image
expect 1 "not an embeddings file" -- "$MEDGE_BIN" vision --mmproj "$MM" --image "$IMG" --compare "$R/vision/mm-tiny-f32.logits"
expect 2 "need --mmproj" -- "$MEDGE_BIN" vision --image "$IMG"
expect 1 "expected 'clip'" -- "$MEDGE_BIN" vision --mmproj "$M"

# loud failures
expect 2 "needs --mmproj" -- "$MEDGE_BIN" run -m "$M" --image "$IMG" -p "x" -n 1
expect 1 "expected 'clip'" -- "$MEDGE_BIN" run -m "$M" --mmproj "$M" --image "$IMG" -p "x" -n 1
expect 1 "not a recognised image" -- "$MEDGE_BIN" run -m "$M" --mmproj "$MM" --image "$R/gguf/tiny-gemma3-Q8_0.manifest.json" -p "x" -n 1
head -c 5000 "$IMG" >"$T/trunc.png"
expect 1 "PNG" -- "$MEDGE_BIN" run -m "$M" --mmproj "$MM" --image "$T/trunc.png" -p "x" -n 1
expect 2 "2 image marker" -- "$MEDGE_BIN" run -m "$M" --mmproj "$MM" --image "$IMG" -p "a <__media__> b <__media__>" -n 1
expect 2 "no --image" -- "$MEDGE_BIN" run -m "$M" -p "look: <__media__>" -n 1
expect 1 "image marker" -- "$MEDGE_BIN" logits -m "$M" --mmproj "$MM" --image "$IMG" --prompt "no marker" -o "$T/x.bin"
exit $fail
