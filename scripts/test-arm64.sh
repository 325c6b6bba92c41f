#!/usr/bin/env bash
# Cross-compiles the kernel library and its tests (cmake/kernels) for arm64 with
# Debian's g++-aarch64-linux-gnu and runs them under qemu-aarch64:
#   - test_kernels once per ARM kernel table (DSM_KERNELS=scalar, dotprod, i8mm) on
#     qemu's "max" CPU, which has every extension: each run compares every table
#     with the scalar one, with a different table active for the matmul paths;
#   - test_quant once (every table's dot products against the dequantized values);
#   - the table choice on CPU models without i8mm (neoverse-n1) and without the
#     dot-product extension (cortex-a53).
# Usage: scripts/test-arm64.sh [BUILD_DIR=build-arm64]   (JOBS=2 by default)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-arm64}
export DSM_TESTDATA="${DSM_TESTDATA:-$(cd .. && pwd)/shared/testdata}"
sysroot=/usr/aarch64-linux-gnu

cmake -S cmake/kernels -B "$build" -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_TOOLCHAIN_FILE="$PWD/cmake/aarch64-linux-gnu.cmake" >/dev/null
cmake --build "$build" -j "${JOBS:-2}"

run() {  # run CPU [ENV=VALUE ...] -- BINARY [ARGS...]
  local cpu=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  echo "== qemu-aarch64 -cpu $cpu ${envs[*]} $*"
  env "${envs[@]}" qemu-aarch64 -cpu "$cpu" -L "$sysroot" "$@"
}

# Death tests re-execute the test binary, which needs qemu registered with binfmt_misc.
quant_filter="*"
[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || quant_filter="-Dispatch.HonoursEnvironmentVariable"

for isa in scalar dotprod i8mm; do
  run max DSM_KERNELS=$isa -- "$build/test_kernels" --gtest_brief=1
done
run max DSM_KERNELS=i8mm -- "$build/test_quant" --gtest_brief=1 --gtest_filter="$quant_filter"

check_tables() {  # CPU EXPECTED
  local got
  got=$(qemu-aarch64 -cpu "$1" -L "$sysroot" "$build/test_kernels" --gtest_filter=KernelTables.ReportWhatRuns |
        sed -n 's/^kernel tables on this CPU: \(.*\) (active.*/\1/p')
  echo "== -cpu $1: tables: $got"
  [ "$got" = "$2" ] || { echo "expected tables '$2' on -cpu $1" >&2; exit 1; }
}
check_tables max "i8mm dotprod scalar"
check_tables neoverse-n1 "dotprod scalar"
check_tables cortex-a53 "scalar"
echo "arm64 kernel tests passed"
