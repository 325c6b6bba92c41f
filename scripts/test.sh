#!/usr/bin/env bash
# Builds libdsm (Release) and runs the whole test suite.
#   scripts/test.sh            Release build in build/
#   scripts/test.sh --asan     AddressSanitizer + UndefinedBehaviorSanitizer build in build-asan/
# Test data is read from $DSM_TESTDATA (default: ../shared/testdata beside the project).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=build
flags=(-DCMAKE_BUILD_TYPE=Release -DDSM_WERROR=ON)
if [ "${1:-}" = "--asan" ]; then
  # Warnings are enforced by the Release build; GCC 12's -Wmaybe-uninitialized gives
  # false positives inside libstdc++ when sanitizers are on.
  dir=build-asan
  flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DDSM_SANITIZE=ON -DDSM_WERROR=OFF)
fi
cmake -S . -B "$dir" "${flags[@]}" >/dev/null
cmake --build "$dir" -j"${DSM_JOBS:-2}"
ctest --test-dir "$dir" --output-on-failure -j"${DSM_JOBS:-2}"
