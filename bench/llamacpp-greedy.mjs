// Greedy continuation of a token-id prompt with llama.cpp (node-llama-cpp, CPU), as
// `dsm run --tokens ... --temp 0 --ignore-eos --ids` does with libdsm: prints the
// generated ids separated by spaces. Used to check that files we write load in llama.cpp.
// usage: node llamacpp-greedy.mjs MODEL TOKENS(1,2,3) N
import {getLlama, LlamaLogLevel} from "node-llama-cpp";

const [modelPath, tokenList, n] = [process.argv[2], process.argv[3], +(process.argv[4] ?? 32)];
const llama = await getLlama({gpu: false, build: "never", logLevel: LlamaLogLevel.error});
const model = await llama.loadModel({modelPath, gpuLayers: 0});
const prompt = tokenList.split(",").map(Number);
// F32 cache, as `dsm run --kv-type f32`: tiny random models have near-ties that F16 rounding flips.
const context = await model.createContext({contextSize: prompt.length + n + 16, threads: 2, sequences: 1,
                                           experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32"});
const seq = context.getSequence();
const out = [];
for await (const tok of seq.evaluate(prompt, {temperature: 0})) {
    out.push(tok);
    if (out.length >= n) break;
}
console.log(out.join(" "));
process.exit(0);
