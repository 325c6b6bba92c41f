#!/usr/bin/env bash
# Converts every Hugging Face test checkpoint with `dsm convert`, then runs the greedy
# continuation of each golden prompt in llama.cpp (node-llama-cpp 3.21.1) and in libdsm
# on the converted file and checks that the token ids agree. Where they part, the golden
# (float64 reference, 32 tokens) says whether that step is a near-tie: a margin between
# the two best logits under 1e-4, which F32 rounding differences between builds can flip.
#   bench/check-llamacpp-convert.sh [N_TOKENS=32] [TYPE=f32]
# Needs build/dsm and network access for the npm package on first use; not for CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
n=${1:-32}; type=${2:-f32}
dsm=${DSM:-$here/../build/dsm}
data=${DSM_TESTDATA:-$(cd "$here/../.." && pwd)/shared/testdata}
nodedir=$here/node
if [ ! -d "$nodedir/node_modules/node-llama-cpp" ]; then
  mkdir -p "$nodedir" && (cd "$nodedir" && npm init -y >/dev/null && npm i -E node-llama-cpp@3.21.1 >/dev/null)
fi
cp "$here/llamacpp-greedy.mjs" "$nodedir/"
out=$(mktemp -d)
fail=0
for dir in "$data"/hf/*/; do
  name=$(basename "$dir")
  golden=$dir/golden
  [ -d "$golden" ] || golden=$data/golden/$name.f32
  "$dsm" convert "$dir" -o "$out/$name.gguf" --type "$type" >/dev/null 2>&1
  for p in "$golden"/prompt_*.tokens.json; do
    toks=$(node -e 'console.log(JSON.parse(require("fs").readFileSync(process.argv[1])).tokens.join(","))' "$p")
    ours=$("$dsm" run -m "$out/$name.gguf" --tokens "$toks" -n "$n" --temp 0 --ignore-eos --ids --kv-type f32 2>/dev/null | xargs)
    theirs=$(cd "$nodedir" && node llamacpp-greedy.mjs "$out/$name.gguf" "$toks" "$n" | xargs)
    verdict=$(node -e '
      const [ours, theirs, greedyFile] = process.argv.slice(1);
      const a = ours.split(" "), b = theirs.split(" ");
      if (ours === theirs) { console.log("same"); process.exit(0); }
      const k = a.findIndex((t, i) => t !== b[i]);
      const g = JSON.parse(require("fs").readFileSync(greedyFile));
      const oursIsGolden = a.every((t, i) => i >= g.continuation.length || +t === g.continuation[i]);
      const m = g.margins[k];
      if (oursIsGolden && m !== undefined && m < 1e-4)
        console.log(`same up to step ${k}, a near-tie (golden margin ${m.toExponential(1)}; dsm follows the golden)`);
      else console.log(`DIFFERENT from step ${k}`);
    ' "$ours" "$theirs" "${p%.tokens.json}.greedy.json")
    case "$verdict" in DIFFERENT*) fail=1 ;; esac
    [ "$type" = f32 ] || case "$verdict" in same\ up*) verdict="DIFFERENT (${verdict#same })"; fail=1 ;; esac
    echo "$name $(basename "$p" .tokens.json): $verdict"
    case "$verdict" in same) ;; *) printf '  dsm:       %s\n  llama.cpp: %s\n' "$ours" "$theirs" ;; esac
  done
done
rm -rf "$out"
exit $fail
