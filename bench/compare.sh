#!/usr/bin/env bash
# Runs libdsm (`dsm bench`) and llama.cpp (node-llama-cpp 3.21.1) on the same GGUF
# with the same threads, interleaved, and prints the speed ratios.
#   bench/compare.sh MODEL.gguf [N_PROMPT=512] [N_GEN=128] [THREADS=2] [ROUNDS=2] [DEPTH=0] [REPS=3]
# DEPTH > 0 runs each test after that many tokens of context (filled untimed).
# Needs: build/dsm (cmake --build build), and `npm i -E node-llama-cpp@3.21.1` in
# bench/node (done on first use). For people and release notes, not for CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=$1; np=${2:-512}; ng=${3:-128}; th=${4:-2}; rounds=${5:-2}; depth=${6:-0}; reps=${7:-3}
dsm=${DSM:-$here/../build/dsm}
nodedir=$here/node
if [ ! -d "$nodedir/node_modules/node-llama-cpp" ]; then
  mkdir -p "$nodedir" && (cd "$nodedir" && npm init -y >/dev/null && npm i -E node-llama-cpp@3.21.1 >/dev/null)
fi
cp "$here/llamacpp-bench.mjs" "$nodedir/"
out=$(mktemp -d)
for r in $(seq "$rounds"); do
  "$dsm" bench -m "$model" -p "$np" -n "$ng" -t "$th" -r "$reps" -d "$depth" --json > "$out/dsm.$r.json"
  (cd "$nodedir" && node llamacpp-bench.mjs "$model" "$np" "$ng" "$th" "$reps" "$depth") > "$out/llama.$r.json"
done
node -e '
const fs = require("fs"), dir = process.argv[1], rounds = +process.argv[2];
const get = (f) => JSON.parse(fs.readFileSync(dir + "/" + f));
const avg = (engine, test) => { let s = 0; for (let r = 1; r <= rounds; r++) s += get(engine + "." + r + ".json").tests.find(t => t.test === test).tokens_per_second; return s / rounds; };
const d = get("dsm.1.json"), l = get("llama.1.json");
console.log("llama.cpp CPU backend: " + (l.cpu_backend_log || l.system_info));
console.log("| test | dsm tok/s | llama.cpp tok/s | ratio |\n|---|---|---|---|");
for (const t of d.tests.map(t => t.test)) {
  const a = avg("dsm", t), b = avg("llama", t);
  console.log(`| ${t} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(a / b).toFixed(2)}x |`);
}
console.log(`load: dsm ${d.load_seconds.toFixed(2)} s, llama.cpp ${l.load_seconds.toFixed(2)} s`);
console.log(`peak RSS: dsm ${(d.peak_rss_bytes / 2**20).toFixed(0)} MiB, llama.cpp (node) ${(l.peak_rss_bytes / 2**20).toFixed(0)} MiB`);
' "$out" "$rounds"
