#!/usr/bin/env bash
# cli-tokenize.sh - the `medge tokenize` command: help, usage errors, ids with and without BOS and
# special-token parsing (Hugging Face ids), the id<TAB>piece listing, WordPiece from vocab.txt,
# text from a file and from standard input, a missing file.
set -u
fail=0
check() { if ! eval "$1"; then echo "FAILED: $1"; fail=1; fi; }
TOK="$MEDGE_REF_DIR/tokenizer"
V="$TOK/gemma3-vocab.gguf"
T="$MEDGE_TEST_TMP/cli-tokenize"
rm -rf "$T" && mkdir -p "$T"

"$MEDGE_BIN" tokenize --help > "$T/help.txt"; check '[ $? = 0 ]'
check 'grep -q -- "--no-parse-special" "$T/help.txt" && grep -q -- "--vocab" "$T/help.txt" && grep -q -- "--ids" "$T/help.txt"'
"$MEDGE_BIN" tokenize -p x 2>/dev/null; check '[ $? = 2 ]'
"$MEDGE_BIN" tokenize -m "$V" 2>/dev/null; check '[ $? = 2 ]'
"$MEDGE_BIN" tokenize -m "$V" -p x --bogus 2>/dev/null; check '[ $? = 2 ]'

out=$("$MEDGE_BIN" tokenize -m "$V" --ids --no-bos -p "Hello, my dog is cute")
check '[ "$out" = "[9259, 236764, 1041, 4799, 563, 12864]" ]'
out=$("$MEDGE_BIN" tokenize -m "$V" --ids -p "Hello, my dog is cute")
check '[ "$out" = "[2, 9259, 236764, 1041, 4799, 563, 12864]" ]'
out=$("$MEDGE_BIN" tokenize -m "$V" --ids --no-bos -p "<end_of_turn>")
check '[ "$out" = "[106]" ]'
out=$("$MEDGE_BIN" tokenize -m "$V" --ids --no-bos --no-parse-special -p "<end_of_turn>")
check '[ "$out" != "[106]" ] && ! echo "$out" | grep -qw 106'
printf '2\t<bos>\n9259\tHello\n236764\t,\n1041\t\xe2\x96\x81my\n107\t\\n\n' > "$T/want.txt"
"$MEDGE_BIN" tokenize -m "$V" -p "Hello, my
" > "$T/got.txt"
check 'cmp -s "$T/got.txt" "$T/want.txt"'

printf 'Chest X-ray: consolidation in the right lower lobe, no pleural effusion. SpO2 91%% on room air.' > "$T/in.txt"
want="[175237, 1684, 236772, 1254, 236787, 55031, 528, 506, 1447, 3718, 75806, 236764, 951, 181069, 156605, 236761, 2177, 236806, 236778, 236743, 236819, 236770, 236908, 580, 2978, 2634, 236761]"
out=$("$MEDGE_BIN" tokenize -m "$V" --ids --no-bos -f "$T/in.txt"); check '[ "$out" = "$want" ]'
out=$("$MEDGE_BIN" tokenize -m "$V" --ids --no-bos -f - < "$T/in.txt"); check '[ "$out" = "$want" ]'
"$MEDGE_BIN" tokenize -m "$V" -f "$T/missing.txt" 2> "$T/err.txt"; check '[ $? = 1 ]'
check 'grep -q "missing.txt" "$T/err.txt"'

out=$("$MEDGE_BIN" tokenize --vocab "$TOK/bert-uncased-vocab.txt" --ids -p "this is a photo of chest X-ray")
check '[ "$out" = "[101, 2023, 2003, 1037, 6302, 1997, 3108, 1060, 1011, 4097, 102]" ]'
out=$("$MEDGE_BIN" tokenize --vocab "$TOK/bert-uncased-vocab.txt" --ids --max-len 4 -p "this is a photo of chest X-ray")
check '[ "$out" = "[101, 2023, 2003, 102]" ]'
out=$("$MEDGE_BIN" tokenize --vocab "$TOK/bert-uncased-vocab.txt" -p "pleural effusion" | cut -f2 | tr '\n' ' ')
check '[ "$out" = "[CLS] pl ##eur ##al e ##ff ##usion [SEP] " ]'
"$MEDGE_BIN" tokenize -m "$V" --time -f "$T/in.txt" > /dev/null 2> "$T/time.txt"
check 'grep -q "MB/s" "$T/time.txt"'
exit $fail
