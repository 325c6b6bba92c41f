#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each for N seconds (default 60),
# seeded from the test models and tokenizer files. Exits non-zero on any crash.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
data="${DSM_TESTDATA:-$(cd .. && pwd)/shared/testdata}"
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSM_FUZZ=ON -DDSM_TESTS=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined" >/dev/null
cmake --build build-fuzz -j"${DSM_JOBS:-2}" --target $(cd fuzz && ls *.cpp | sed 's/\.cpp$//' | tr '\n' ' ')
for src in fuzz/*.cpp; do
  name=$(basename "$src" .cpp)
  corpus=build-fuzz/corpus-$name
  mkdir -p "$corpus"
  seeds=()
  case "$name" in
    fuzz_gguf) [ -d "$data/models" ] && seeds=("$data/models") ;;
    fuzz_tokenizer_json) [ -d "$data/hf" ] && seeds=("$data/hf/dsllm-tiny") ;;
    fuzz_chat_template) [ -d "$data/tokenizer/hf" ] && seeds=() ;;
    fuzz_safetensors) [ -d "$data/hf" ] && seeds=("$data/hf/dsllm-tiny") ;;
  esac
  echo "== $name for ${secs}s"
  build-fuzz/$name "$corpus" "${seeds[@]}" -max_total_time="$secs" -max_len=1048576 -rss_limit_mb=4096 \
    -timeout=10 -print_final_stats=1 2>&1 | tail -n 12
done
