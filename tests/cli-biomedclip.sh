#!/usr/bin/env bash
# cli-biomedclip.sh - medge convert / embed / classify on the BiomedCLIP reference checkpoint.
set -euo pipefail
M="$MEDGE_BIN"; R="$MEDGE_REF_DIR"; T="$MEDGE_TEST_TMP/cli-biomedclip"
rm -rf "$T"; mkdir -p "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$M" convert "$R/biomedclip-tiny" -o "$T/clip.gguf" -q >/dev/null || fail "convert"
"$M" embed --help | grep -q -- "--text" || fail "embed --help"
"$M" classify --help | grep -q -- "--label-set" || fail "classify --help"

# Image embedding: 128 values, unit norm; same numbers as the reference (normalised features).
"$M" embed -m "$T/clip.gguf" -t 2 "$R/images/test-image-224.png" > "$T/img.txt"
python3 - "$T/img.txt" "$R/biomedclip-tiny/reference.json" <<'PY' || fail "image embedding"
import json, math, sys
line = open(sys.argv[1]).read().strip().split("\t")
v = [float(x) for x in line[1].split()]
ref = json.load(open(sys.argv[2]))
want = [i for i in ref["images"] if i["file"] == "test-image-224.png"][0]["embedding"]
assert len(v) == 128, len(v)
assert abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-5
d = max(abs(a - b) for a, b in zip(v, want)); assert d <= 1e-5, d
PY

# Text embedding as JSON, against the reference.
"$M" embed -m "$T/clip.gguf" --json --text "this is a photo of brain MRI" > "$T/txt.json"
python3 - "$T/txt.json" "$R/biomedclip-tiny/reference.json" <<'PY' || fail "text embedding"
import json, sys
out = json.load(open(sys.argv[1]))
ref = json.load(open(sys.argv[2]))
want = [t for t in ref["texts"] if t["text"] == "this is a photo of brain MRI"][0]["embedding"]
assert out[0]["kind"] == "text" and out[0]["input"] == "this is a photo of brain MRI"
d = max(abs(a - b) for a, b in zip(out[0]["embedding"], want)); assert d <= 1e-5, d
PY

# Zero-shot: probabilities of the reference's 16 prompts (template "{}" = the whole prompt).
python3 - "$R/biomedclip-tiny/reference.json" > "$T/labels.txt" <<'PY'
import json, sys
ref = json.load(open(sys.argv[1]))
print(",".join(t["text"] for t in ref["texts"][:8]))
PY
"$M" classify -m "$T/clip.gguf" "$R/images/xray-like-400x500.png" --labels "$(cat "$T/labels.txt")" --template "{}" \
    --json > "$T/cls.json"
python3 - "$T/cls.json" "$R/biomedclip-tiny/reference.json" <<'PY' || fail "classify"
import json, math, sys
out = json.load(open(sys.argv[1]))[0]["results"]
ref = json.load(open(sys.argv[2]))
texts = [t["text"] for t in ref["texts"][:8]]
logits = ref["logits"][0][:8]
m = max(logits); e = [math.exp(x - m) for x in logits]; s = sum(e)
want = {texts[i]: e[i] / s for i in range(8)}
assert len(out) == 8
assert all(out[i]["prob"] >= out[i + 1]["prob"] for i in range(7)), "not sorted"
assert abs(sum(r["prob"] for r in out) - 1) < 1e-5
for r in out:
    assert abs(r["prob"] - want[r["label"]]) < 1e-5, (r, want[r["label"]])
PY
"$M" classify -m "$T/clip.gguf" "$R/images/test-image-224.png" --label-set chest-xray --top 2 > "$T/top.txt"
[ "$(grep -c '^  ' "$T/top.txt")" = 2 ] || fail "--top 2"

# INT8: medge quantize Q8_0 (linear layers, token embedding; the 16-wide patch rows fall back to
# F16); embeddings stay within cosine 0.9995 of F32.
"$M" quantize -q "$T/clip.gguf" "$T/clip-q8_0.gguf" Q8_0 >/dev/null 2>&1 || fail "quantize Q8_0"
for f in clip clip-q8_0; do
  "$M" embed -m "$T/$f.gguf" "$R"/images/*.png --text "this is a photo of pneumonia" > "$T/$f.emb"
done
python3 - "$T/clip.emb" "$T/clip-q8_0.emb" <<'PY' || fail "Q8_0 fidelity"
import sys
a = [l.split("\t") for l in open(sys.argv[1])]
b = [l.split("\t") for l in open(sys.argv[2])]
assert len(a) == len(b) == 5
for (n, x), (m, y) in zip(a, b):
    x = [float(v) for v in x.split()]; y = [float(v) for v in y.split()]
    c = sum(p * q for p, q in zip(x, y))
    assert c >= 0.9995, (n, c)
PY

# I8_PC (per-channel int8 weights, per-row int8 activations): the image tower's block layers get
# the type except the single-row products (last block after attention, head: F16), the text
# tower's linear layers F16 (medge info), the rest as Q8_0; issue 9's INT8 bar with the default
# labels: image and text embeddings within cosine 0.9995 of F32 and the same top label on every
# reference image (eval clip gate, strict).
"$M" quantize --help | grep -q "I8_PC" || fail "quantize --help: I8_PC"
"$M" quantize -q "$T/clip.gguf" "$T/clip-i8pc.gguf" I8_PC >/dev/null 2>&1 || fail "quantize I8_PC"
"$M" info "$T/clip-i8pc.gguf" > "$T/i8pc.info" || fail "info I8_PC"
grep -q "v.blk.0.attn_qkv.weight *I8_PC" "$T/i8pc.info" || fail "qkv not I8_PC"
grep -q "v.blk.1.attn_qkv.weight *I8_PC" "$T/i8pc.info" || fail "last qkv not I8_PC"
grep -q "v.blk.1.ffn_down.weight *F16" "$T/i8pc.info" || fail "last ffn_down not F16"
grep -q "v.proj.weight *F16" "$T/i8pc.info" || fail "v.proj not F16"
grep -q "t.proj.2.weight *F16" "$T/i8pc.info" || fail "t.proj.2 not F16"
grep -q "t.blk.1.ffn_down.weight *F16" "$T/i8pc.info" || fail "t.blk.1.ffn_down not F16"
grep -q "t.token_embd.weight *Q8_0" "$T/i8pc.info" || fail "token embedding not Q8_0"
grep -q "by type:.* I8_PC x 5" "$T/i8pc.info" || fail "info: I8_PC count"
"$M" eval clip --base "$T/clip.gguf" --model "$T/clip-i8pc.gguf" "$R"/images/*.png --min-cosine 0.9995 --min-agree 1 \
    --strict -q -t 2 > "$T/i8pc.eval" || fail "I8_PC fidelity: $(cat "$T/i8pc.eval")"
grep -q "zero-shot top-1 agreement: 100.00%" "$T/i8pc.eval" || fail "I8_PC top-1 agreement: $(cat "$T/i8pc.eval")"

# medge synth --preset biomedclip-tiny: a random-weight model of the same layout; Q8_0 straight from
# synth equals medge quantize of the F32 file; the model embeds; the open_clip directory converts.
"$M" synth --preset biomedclip-tiny -q -t 2 -o "$T/synth.gguf" || fail "synth biomedclip-tiny"
"$M" synth --preset biomedclip-tiny -q -t 2 --type Q8_0 -o "$T/synth-q8.gguf" 2>/dev/null || fail "synth Q8_0"
"$M" quantize -q "$T/synth.gguf" "$T/synth-q8b.gguf" Q8_0 >/dev/null 2>&1 || fail "quantize synth"
cmp -s "$T/synth-q8.gguf" "$T/synth-q8b.gguf" || fail "synth --type Q8_0 differs from medge quantize"
"$M" embed -m "$T/synth-q8.gguf" "$R/images/test-image-224.png" --text "a chest x-ray" > "$T/synth.emb" || fail "synth embed"
[ "$(wc -l < "$T/synth.emb")" = 2 ] || fail "synth embeddings"
"$M" synth --preset biomedclip-tiny --format hf -q -o "$T/synth-ckpt" || fail "synth open_clip layout"
[ -f "$T/synth-ckpt/open_clip_model.safetensors" ] && [ -f "$T/synth-ckpt/vocab.txt" ] || fail "open_clip files"
"$M" convert "$T/synth-ckpt" -o "$T/synth2.gguf" -q >/dev/null || fail "convert synthetic checkpoint"
"$M" synth --help | grep -q "biomedclip-tiny" || fail "synth --help"

# Errors: missing labels, unknown set, non-image input, non-BiomedCLIP model.
if "$M" classify -m "$T/clip.gguf" "$R/images/test-image-224.png" 2>/dev/null; then fail "no labels accepted"; fi
if "$M" classify -m "$T/clip.gguf" "$R/images/test-image-224.png" --label-set nope 2>/dev/null; then fail "bad set"; fi
if "$M" embed -m "$T/clip.gguf" "$R/biomedclip-tiny/vocab.txt" 2>"$T/err.txt"; then fail "vocab.txt as image"; fi
if "$M" embed -m "$R/biomedclip-tiny/vocab.txt" --text x 2>"$T/err2.txt"; then fail "vocab.txt as model"; fi
grep -q "medge embed:" "$T/err2.txt" || fail "error message"
echo "cli-biomedclip ok"
