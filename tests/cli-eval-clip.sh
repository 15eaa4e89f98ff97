#!/usr/bin/env bash
# cli-eval-clip.sh - `medge eval clip` on the BiomedCLIP reference checkpoint: its numbers are
# recomputed here from `medge embed` / `medge classify` output, a model against itself is perfect,
# the gate and --strict work, reports carry hashes and provenance, bad input is refused.
set -euo pipefail
M="$MEDGE_BIN"; R="$MEDGE_REF_DIR"; T="$MEDGE_TEST_TMP/cli-eval-clip"
rm -rf "$T"; mkdir -p "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }

"$M" convert "$R/biomedclip-tiny" -o "$T/f32.gguf" -q >/dev/null || fail "convert"
"$M" quantize -q "$T/f32.gguf" "$T/q8.gguf" Q8_0 >/dev/null 2>&1 || fail "quantize"
"$M" eval clip --help | grep -q -- "--min-cosine" || fail "--help"
IMGS=("$R"/images/*.png)
LABELS="chest X-ray,brain MRI,skin lesion photograph,histopathology slide"

"$M" eval clip --base "$T/f32.gguf" --model "$T/q8.gguf" "${IMGS[@]}" --labels "$LABELS" --json -t 2 > "$T/e.json" \
  || fail "eval clip"
for f in f32 q8; do
  "$M" embed -m "$T/$f.gguf" "${IMGS[@]}" > "$T/$f.emb"
  "$M" classify -m "$T/$f.gguf" "${IMGS[@]}" --labels "$LABELS" --json > "$T/$f.cls"
  for l in "chest X-ray" "brain MRI" "skin lesion photograph" "histopathology slide"; do
    "$M" embed -m "$T/$f.gguf" --text "this is a photo of $l"
  done > "$T/$f.txt"
done
python3 - "$T" <<'PY' || fail "eval clip numbers"
import json, sys
T = sys.argv[1]
e = json.load(open(f"{T}/e.json"))
def vecs(p): return [[float(v) for v in l.split("\t")[1].split()] for l in open(p)]
def cos(a, b):
    d = sum(x * y for x, y in zip(a, b)); na = sum(x * x for x in a) ** .5; nb = sum(y * y for y in b) ** .5
    return d / (na * nb)
ic = [cos(a, b) for a, b in zip(vecs(f"{T}/f32.emb"), vecs(f"{T}/q8.emb"))]
tc = [cos(a, b) for a, b in zip(vecs(f"{T}/f32.txt"), vecs(f"{T}/q8.txt"))]
assert e["images"] == 4 and e["labels"] == 4, e
# embed prints 6-8 significant digits: compare to 1e-6
assert abs(e["image_cosine"]["min"] - min(ic)) < 1e-6, (e["image_cosine"], ic)
assert abs(e["image_cosine"]["mean"] - sum(ic) / 4) < 1e-6
assert abs(e["text_cosine"]["min"] - min(tc)) < 1e-6, (e["text_cosine"], tc)
assert 0.9995 <= e["image_cosine"]["min"] < 1 and 0.9995 <= e["text_cosine"]["min"] < 1
cb = json.load(open(f"{T}/f32.cls")); cm = json.load(open(f"{T}/q8.cls"))
agree, shifts = 0, []
for i, (a, b) in enumerate(zip(cb, cm)):
    pa = {r["label"]: r["prob"] for r in a["results"]}; pb = {r["label"]: r["prob"] for r in b["results"]}
    row = e["per_image"][i]
    assert row["top_base"] == a["results"][0]["label"] and row["top_model"] == b["results"][0]["label"], row
    agree += row["top_base"] == row["top_model"]
    s = max(abs(pa[k] - pb[k]) for k in pa); shifts.append(s)
    assert abs(row["max_prob_shift"] - s) < 1e-5, (row, s)
    tv = 0.5 * sum(abs(pa[k] - pb[k]) for k in pa)
    assert abs(row["total_variation"] - tv) < 1e-5, (row, tv)
    assert 0 < s < 0.05
assert abs(e["top1_agreement"] - agree / 4) < 1e-9
assert abs(e["max_prob_shift"]["max"] - max(shifts)) < 1e-5
assert e["gate"]["pass"] is True and e["gate"]["min_cosine"] == 0.999
PY

# A model against itself: cosine 1, full agreement, no shift.
"$M" eval clip --base "$T/f32.gguf" --model "$T/f32.gguf" "${IMGS[0]}" --json > "$T/self.json" || fail "self"
python3 - "$T/self.json" <<'PY' || fail "self numbers"
import json, sys
e = json.load(open(sys.argv[1]))
assert abs(e["image_cosine"]["min"] - 1) < 1e-12 and abs(e["text_cosine"]["min"] - 1) < 1e-12, e
assert e["top1_agreement"] == 1 and e["max_prob_shift"]["max"] == 0 and e["labels"] == 10, e
PY

# Gate: a threshold the Q8_0 model cannot meet fails, --strict turns that into exit status 3.
"$M" eval clip --base "$T/f32.gguf" --model "$T/q8.gguf" "${IMGS[0]}" --min-cosine 0.99999 > "$T/gate.txt" \
  || fail "gate without --strict must exit 0"
grep -q "FAIL" "$T/gate.txt" || fail "gate FAIL not printed"
set +e
"$M" eval clip --base "$T/f32.gguf" --model "$T/q8.gguf" "${IMGS[0]}" --min-cosine 0.99999 --strict -q >/dev/null
rc=$?
set -e
[ "$rc" = 3 ] || fail "--strict exit status $rc"

# Reports: Markdown and JSON with SHA-256 and provenance of both files.
"$M" eval clip --base "$T/f32.gguf" --model "$T/q8.gguf" "${IMGS[@]}" --report "$T/r.md" -q >/dev/null || fail "report"
grep -q "Verdict: PASS" "$T/r.md" || fail "report verdict"
grep -q "$(sha256sum "$T/q8.gguf" | cut -c1-64)" "$T/r.md" || fail "report sha256"
grep -q "file type Q8_0" "$T/r.md" || fail "report provenance"
"$M" eval clip --base "$T/f32.gguf" --model "$T/q8.gguf" "${IMGS[@]}" --report "$T/r.json" -q >/dev/null || fail "json report"
python3 -c "import json,sys; r=json.load(open(sys.argv[1])); assert 'Q8_0' in r['model_provenance'] and len(r['base_sha256'])==64" \
  "$T/r.json" || fail "json report content"

# Bad input: no images, unknown label set, a file that is not a model, an image that does not decode.
if "$M" eval clip --base "$T/f32.gguf" --model "$T/q8.gguf" 2>/dev/null; then fail "no images accepted"; fi
if "$M" eval clip --base "$T/f32.gguf" --model "$T/q8.gguf" "${IMGS[0]}" --label-set nope 2>/dev/null; then
  fail "unknown set accepted"; fi
if "$M" eval clip --base "$T/f32.gguf" --model "$R/images/test-image-224.png" "${IMGS[0]}" 2> "$T/err.txt"; then
  fail "non-model accepted"; fi
grep -q "test-image-224.png" "$T/err.txt" || fail "error does not name the file"
printf 'not an image' > "$T/bad.png"
if "$M" eval clip --base "$T/f32.gguf" --model "$T/q8.gguf" "$T/bad.png" 2> "$T/err2.txt"; then fail "bad image accepted"; fi
grep -q "bad.png" "$T/err2.txt" || fail "image error does not name the file"
echo "cli-eval-clip: ok"
