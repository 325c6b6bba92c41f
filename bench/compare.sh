#!/usr/bin/env bash
# Runs libdsm (`dsm bench`) and llama.cpp (node-llama-cpp 3.21.1) on the same GGUF
# with the same threads, interleaved, and prints the speed ratios.
#   bench/compare.sh MODEL.gguf [N_PROMPT=512] [N_GEN=128] [THREADS=2] [ROUNDS=2] [DEPTH=0] [REPS=3]
# DSM_FLAGS adds options to `dsm bench` (e.g. DSM_FLAGS=--no-repack, --huge-pages).
# DEPTH > 0 runs each test after that many tokens of context (filled untimed).
# With build/bandwidth (bench/bandwidth.cpp) present, each round also measures the read
# bandwidth and the generation rows say how close each engine gets to the roofline:
# tok/s x weight bytes read per token (`dsm info`: "decode reads") / measured GB/s.
# LLAMA_BENCH=/path/to/llama-bench compares with a llama.cpp built natively from source
# instead of the npm package (a second check; it reports no load time or RSS).
# Needs: build/dsm (cmake --build build), and `npm i -E node-llama-cpp@3.21.1` in
# bench/node (done on first use). For people and release notes, not for CI.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
model=$1; np=${2:-512}; ng=${3:-128}; th=${4:-2}; rounds=${5:-2}; depth=${6:-0}; reps=${7:-3}
dsm=${DSM:-$here/../build/dsm}
nodedir=$here/node
if [ -z "${LLAMA_BENCH:-}" ]; then
  if [ ! -d "$nodedir/node_modules/node-llama-cpp" ]; then
    mkdir -p "$nodedir" && (cd "$nodedir" && npm init -y >/dev/null && npm i -E node-llama-cpp@3.21.1 >/dev/null)
  fi
  cp "$here/llamacpp-bench.mjs" "$nodedir/"
fi
out=$(mktemp -d)
bandwidth=${BANDWIDTH:-$here/../build/bandwidth}
for r in $(seq "$rounds"); do
  if [ -x "$bandwidth" ]; then
    "$bandwidth" 2048 "$th" | awk -v t="$th" '$1 == t { print $(NF-1) }' > "$out/bw.$r"
  fi
  "$dsm" bench -m "$model" -p "$np" -n "$ng" -t "$th" -r "$reps" -d "$depth" --json ${DSM_FLAGS:-} > "$out/dsm.$r.json"
  if [ -n "${LLAMA_BENCH:-}" ]; then
    # llama-bench's JSON, reshaped to llamacpp-bench.mjs's: one test per row, named as dsm
    # names it. CPU only (-ngl 0); its log goes to llama.N.log, shown if it fails.
    "$LLAMA_BENCH" -m "$model" -p "$np" -n "$ng" -t "$th" -r "$reps" -d "$depth" -ngl 0 -o json \
      > "$out/llama.$r.raw" 2> "$out/llama.$r.log" || { echo "llama-bench failed:" >&2; cat "$out/llama.$r.log" >&2; exit 1; }
    node -e '
const rows = JSON.parse(require("fs").readFileSync(0, "utf8"));
const tests = rows.map((x) => ({test: (x.n_gen ? "tg" + x.n_gen : "pp" + x.n_prompt) + (x.n_depth ? " @ d" + x.n_depth : ""),
                                tokens_per_second: x.avg_ts, sd: x.stddev_ts}));
console.log(JSON.stringify({tests, cpu_backend_log: "native llama-bench, build " + rows[0].build_commit + ", " + rows[0].cpu_info}));
' < "$out/llama.$r.raw" > "$out/llama.$r.json"
  else
    (cd "$nodedir" && node llamacpp-bench.mjs "$model" "$np" "$ng" "$th" "$reps" "$depth") > "$out/llama.$r.json"
  fi
done
node -e '
const fs = require("fs"), dir = process.argv[1], rounds = +process.argv[2];
const get = (f) => JSON.parse(fs.readFileSync(dir + "/" + f));
const avg = (engine, test) => { let s = 0; for (let r = 1; r <= rounds; r++) s += get(engine + "." + r + ".json").tests.find(t => t.test === test).tokens_per_second; return s / rounds; };
const d = get("dsm.1.json"), l = get("llama.1.json");
console.log("llama.cpp CPU backend: " + (l.cpu_backend_log || l.system_info));
let bw = 0;
for (let r = 1; r <= rounds; r++) if (fs.existsSync(dir + "/bw." + r)) bw += +fs.readFileSync(dir + "/bw." + r, "utf8") / rounds;
const gb = d.decode_bytes_per_token / 1e9;
const roof = (tps) => `${(tps * gb).toFixed(1)} GB/s = ${(100 * tps * gb / bw).toFixed(0)}%`;
console.log("| test | dsm tok/s | llama.cpp tok/s | ratio |" + (bw ? " dsm of roofline | llama.cpp of roofline |" : ""));
console.log("|---|---|---|---|" + (bw ? "---|---|" : ""));
for (const t of d.tests.map(t => t.test)) {
  const a = avg("dsm", t), b = avg("llama", t);
  const tg = bw && t.startsWith("tg") && !t.includes("@");
  console.log(`| ${t} | ${a.toFixed(2)} | ${b.toFixed(2)} | ${(a / b).toFixed(2)}x |` + (bw ? (tg ? ` ${roof(a)} | ${roof(b)} |` : " | |") : ""));
}
if (bw) console.log(`read bandwidth (bench/bandwidth.cpp, ${process.argv[3]} threads): ${bw.toFixed(1)} GB/s; weights read per generated token: ${gb.toFixed(3)} GB; roofline ${(bw / gb).toFixed(1)} tok/s`);
const na = (v, f) => (v === undefined ? "n/a" : f(v));
console.log(`load: dsm ${d.load_seconds.toFixed(2)} s, llama.cpp ${na(l.load_seconds, (v) => v.toFixed(2) + " s")}`);
console.log(`peak RSS: dsm ${(d.peak_rss_bytes / 2**20).toFixed(0)} MiB, llama.cpp${l.peak_rss_bytes === undefined ? "" : " (node)"} ${na(l.peak_rss_bytes, (v) => (v / 2**20).toFixed(0) + " MiB")}`);
' "$out" "$rounds" "$th"
