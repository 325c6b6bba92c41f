// Times llama.cpp (through the npm package node-llama-cpp, CPU only) the way
// `dsm bench` times libdsm: pp = N random tokens in one batch on an empty cache,
// tg = N tokens one at a time on an empty cache; mean ± sd of tok/s over R runs.
// With DEPTH > 0 each test runs after DEPTH tokens of context, filled once (untimed)
// and cut back to DEPTH before each run, as `dsm bench -d`.
// usage: node llamacpp-bench.mjs MODEL N_PROMPT N_GEN THREADS REPS [DEPTH]
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, nPrompt, nGen, threads, reps] = [
    process.argv[2], +(process.argv[3] ?? 512), +(process.argv[4] ?? 128), +(process.argv[5] ?? 2), +(process.argv[6] ?? 3)];
const depth = +(process.argv[7] ?? 0);
const logs = [];
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.info,
                              logger: (level, msg) => logs.push(msg)});
const t0 = performance.now();
const model = await llama.loadModel({modelPath, gpuLayers: 0, useMmap: true});
const loadSeconds = (performance.now() - t0) / 1000;
const context = await model.createContext({contextSize: depth + Math.max(nPrompt, nGen) + 64, batchSize: Math.max(nPrompt, Math.min(depth, 512), 1),
                                           threads, sequences: 1, flashAttention: false});
const seq = context.getSequence();
const nVocab = 1000;  // token ids do not change the speed
let seed = 42;
const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) % nVocab;

const prefix = Array.from({length: depth}, rand);
let prefixFilled = false;

async function timeRun(tokens, oneByOne, withDepth) {
    if (withDepth && prefixFilled) {
        await seq.eraseContextTokenRanges([{start: depth, end: seq.nextTokenIndex}]);
    } else {
        await seq.clearHistory();
        prefixFilled = false;
        if (withDepth) {
            await seq.evaluateWithoutGeneratingNewTokens(prefix);
            prefixFilled = true;
        }
    }
    const t = performance.now();
    // Each generated token's logits are computed (and the next token picked greedily),
    // as in generation, `llama-bench` and `dsm bench`: evaluating without generating
    // lets llama.cpp skip the output layer, up to a fifth of the weights of a small model.
    if (oneByOne) for (const tok of tokens) await seq.controlledEvaluate([[tok, {generateNext: {token: true, options: {temperature: 0}}}]]);
    else await seq.evaluateWithoutGeneratingNewTokens(tokens);
    return (performance.now() - t) / 1000;
}
const results = [];
for (const [name, n, oneByOne] of [["pp", nPrompt, false], ["tg", nGen, true]]) {
    if (n <= 0) continue;
    const tokens = Array.from({length: n}, rand);
    await timeRun(tokens.slice(0, 16), oneByOne, false);  // warm-up
    const samples = [];
    for (let i = 0; i < reps; i++) samples.push(n / await timeRun(tokens, oneByOne, depth > 0));
    const mean = samples.reduce((a, b) => a + b, 0) / reps;
    const sd = Math.sqrt(samples.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, reps - 1));
    results.push({test: name + n + (depth ? " @ d" + depth : ""), tokens_per_second: mean, sd, samples});
}
// ggml loads the CPU variant that fits the processor as a shared library: name it.
const fs = await import("node:fs");
const mapped = fs.readFileSync("/proc/self/maps", "utf8").match(/libggml-cpu-[\w-]+\.so/g) ?? [];
const cpuVariant = [...new Set(mapped)].join(" ") || logs.filter((l) => /ggml-cpu|load_backend/i.test(l)).join(" ");
console.log(JSON.stringify({engine: "llama.cpp (node-llama-cpp 3.21.1)", model: modelPath, threads,
                            system_info: llama.systemInfo, cpu_backend_log: cpuVariant.trim(), load_seconds: loadSeconds,
                            peak_rss_bytes: process.resourceUsage().maxRSS * 1024, tests: results}, null, 2));
process.exit(0);
