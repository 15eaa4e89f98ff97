#!/usr/bin/env bash
# cli-quantize.sh - `medge quantize` end to end: help, bad arguments, a Q8_0 mmproj and a pure
# Q4_0 run on llama.cpp's tiny files, failures that must leave no output file.
set -u
M=${MEDGE_BIN:?}; R=${MEDGE_REF_DIR:?}; T=${MEDGE_TEST_TMP:?}/cli-quantize
mkdir -p "$T"; rm -f "$T"/*
fail=0
ok() { if ! "$@"; then echo "FAILED: $*" >&2; fail=1; fi; }
no() { if "$@" >/dev/null 2>&1; then echo "SHOULD HAVE FAILED: $*" >&2; fail=1; fi; }

ok bash -c "'$M' quantize --help | grep -q -- '--tensor-type PATTERN=T'"
no "$M" quantize "$R/gemma3-tiny/gguf/tiny-gemma3-f16.gguf" "$T/x.gguf" Q4_K_XL
ok bash -c "'$M' quantize '$R/gemma3-tiny/gguf/tiny-gemma3-f16.gguf' '$T/x.gguf' Q4_K_XL 2>&1 | grep -q 'unknown type'"
ok test ! -e "$T/x.gguf"
no "$M" quantize --tensor-type 'attn=Q9_9' "$R/gemma3-tiny/gguf/tiny-gemma3-f16.gguf" "$T/x.gguf" Q4_0
# not a model
no "$M" quantize "$R/gemma3-tiny/hf/config.json" "$T/x.gguf" Q8_0
ok test ! -e "$T/x.gguf"
# an imatrix for another model
ok bash -c "'$M' quantize --imatrix '$R/gemma3-tiny/imatrix/imatrix-tiny-c64.gguf' '$R/gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf' '$T/x.gguf' Q8_0 2>&1 | grep -q 'does not match'"
ok test ! -e "$T/x.gguf"
# a full disk (file size limit): clear error, neither the output nor its temporary file remains
ok bash -c "(trap '' XFSZ; ulimit -f 1000; '$M' quantize -q '$R/gemma3-tiny/gguf/tiny-gemma3-f16.gguf' '$T/x.gguf' Q8_0) 2>&1 | grep -q 'write failed'"
ok bash -c "ls '$T' | wc -l | grep -qx 0"   # no temporary files left either

# mmproj to Q8_0: matrices quantized, 1-D tensors and the position embedding kept in F32, the
# 14-wide patch embedding falls back to F16 (and the run says so)
ok bash -c "'$M' quantize -q '$R/gemma3-tiny/gguf/mmproj-tiny-gemma3-f32.gguf' '$T/mm-q8.gguf' Q8_0 2>'$T/mm.err' >'$T/mm.out'"
ok grep -q 'v.patch_embd.weight.*falling back to F16' "$T/mm.err"
ok grep -q 'tensors: 39 (14 quantized' "$T/mm.out"

# F16 text model, Q4_0: token_embd Q6_K, matrices Q4_0 (as llama-quantize); dry run writes nothing
ok bash -c "'$M' quantize --dry-run '$R/gemma3-tiny/gguf/tiny-gemma3-f16.gguf' '$T/dry.gguf' Q4_0 2>'$T/dry.err' >/dev/null"
ok test ! -e "$T/dry.gguf"
ok grep -q 'token_embd.weight .*F16    -> Q6_K' "$T/dry.err"
ok grep -q 'blk.7.ffn_up.weight .*F16    -> Q4_0' "$T/dry.err"
ok bash -c "'$M' quantize -t 2 '$R/gemma3-tiny/gguf/tiny-gemma3-f16.gguf' '$T/q40.gguf' Q4_0 >'$T/q40.out' 2>/dev/null"
ok grep -q 'quant size: ' "$T/q40.out"
ok test -s "$T/q40.gguf"
# From the Hugging Face checkpoint: medge convert --outtype f32, then each llama.cpp quantization
# is reproduced as a whole file, byte for byte (tensors, metadata, order, padding)
if "$M" convert "$R/gemma3-tiny/hf" -o "$T/f32.gguf" --outtype f32 --name "Tiny Gemma3" -q >/dev/null; then
  types="Q4_K_S Q8_0 Q4_K_M Q4_0 Q6_K"
  [ -n "${MEDGE_SANITIZED:-}" ] && types="Q4_K_S Q8_0"
  for t in $types; do
    ok "$M" quantize -q -t 2 "$T/f32.gguf" "$T/$t.gguf" "$t" >/dev/null
    ok cmp "$T/$t.gguf" "$R/gemma3-tiny/gguf/tiny-gemma3-$t.gguf"
    rm -f "$T/$t.gguf"
  done
  # with llama.cpp's importance matrix, given under the name llama-quantize was given (it is
  # recorded in quantize.imatrix.file): the manifests then match key for key and tensor for tensor
  cp "$R/gemma3-tiny/imatrix/imatrix-tiny-c64.gguf" "$T/imatrix-tiny.gguf"
  itypes="Q4_K_S IQ4_XS"
  [ -n "${MEDGE_SANITIZED:-}" ] && itypes="IQ4_XS"
  for t in $itypes; do
    ok bash -c "cd '$T' && '$M' quantize -q -t 2 --imatrix imatrix-tiny.gguf f32.gguf '$t-imat.gguf' '$t' >/dev/null"
    ok "$M" info --manifest "$R/gemma3-tiny/imatrix/tiny-gemma3-$t-imat.manifest.json" "$T/$t-imat.gguf"
    rm -f "$T/$t-imat.gguf"
  done
else
  echo "FAILED: medge convert --outtype f32" >&2; fail=1
fi
rm -f "$T/f32.gguf"
exit $fail
