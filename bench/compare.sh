#!/usr/bin/env bash
# compare.sh - run `medge bench` and (when installed) llama.cpp's llama-bench on the same GGUF with
# the same prompt/generation sizes and threads, and print one comparison table.
#
#   bench/compare.sh MODEL.gguf [-p 512] [-n 128] [-t 2] [-r 3]
#
# MEDGE (default: medge on PATH, else build/medge) and LLAMA_BENCH (default: llama-bench on PATH)
# name the binaries. Peak RSS of each run is taken from /usr/bin/time when available.
set -euo pipefail
model=${1:?usage: compare.sh MODEL.gguf [-p N] [-n N] [-t N] [-r N]}
shift
p=512 n=128 t=2 r=3
while [ $# -gt 0 ]; do
    case $1 in
    -p) p=$2; shift 2 ;;
    -n) n=$2; shift 2 ;;
    -t) t=$2; shift 2 ;;
    -r) r=$2; shift 2 ;;
    *) echo "compare.sh: unknown option $1" >&2; exit 2 ;;
    esac
done
here=$(cd "$(dirname "$0")/.." && pwd)
MEDGE=${MEDGE:-$(command -v medge || echo "$here/build/medge")}
LLAMA_BENCH=${LLAMA_BENCH:-$(command -v llama-bench || true)}
timecmd=()
[ -x /usr/bin/time ] && timecmd=(/usr/bin/time -f "%M")

echo "model: $model   pp$p / tg$n, $t threads, $r runs"
echo
echo "| engine | test | t/s | peak RSS (MiB) |"
echo "| ------ | ---- | --: | -------------: |"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"${timecmd[@]}" "$MEDGE" bench -m "$model" -p "$p" -n "$n" -t "$t" -r "$r" --json >"$tmp/medge.json" 2>"$tmp/medge.err" || {
    cat "$tmp/medge.err" >&2
    exit 1
}
rss=$(tail -n 1 "$tmp/medge.err" | grep -E '^[0-9]+$' || echo "")
python3 - "$tmp/medge.json" "$p" "$n" "${rss:-}" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
rss = sys.argv[4]
rss = "%.0f" % (int(rss) / 1024) if rss else "%.0f" % (d["peak_rss_bytes"] / 1048576)
print("| medge | pp%s | %.2f ± %.2f | %s |" % (sys.argv[2], d["pp"]["median"], d["pp"]["sd"], rss))
print("| medge | tg%s | %.2f ± %.2f | %s |" % (sys.argv[3], d["tg"]["median"], d["tg"]["sd"], rss))
PY

if [ -n "$LLAMA_BENCH" ]; then
    "${timecmd[@]}" "$LLAMA_BENCH" -m "$model" -p "$p" -n "$n" -t "$t" -r "$r" -o json >"$tmp/llama.json" 2>"$tmp/llama.err" || {
        cat "$tmp/llama.err" >&2
        exit 1
    }
    rss=$(tail -n 1 "$tmp/llama.err" | grep -E '^[0-9]+$' || echo "")
    python3 - "$tmp/llama.json" "${rss:-}" <<'PY'
import json, sys
runs = json.load(open(sys.argv[1]))
rss = "%.0f" % (int(sys.argv[2]) / 1024) if sys.argv[2] else "?"
for x in runs:
    test = ("pp%d" % x["n_prompt"]) if x["n_prompt"] else ("tg%d" % x["n_gen"])
    print("| llama.cpp | %s | %.2f ± %.2f | %s |" % (test, x["avg_ts"], x["stddev_ts"], rss))
PY
else
    echo "| llama.cpp | (llama-bench not found: set LLAMA_BENCH) | | |"
fi
