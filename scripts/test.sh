#!/usr/bin/env bash
# The README's test command: installs what is missing, builds once, runs every CTest suite.
# GPU suites skip with a message where no GPU is present.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
preset=release
[[ "${CI:-}" == "true" ]] && preset=ci
jobs=$(nproc)
cmake --preset "$preset" >/dev/null
cmake --build --preset "$preset" -j "$jobs"
ctest --preset "$preset" -j "$jobs" "$@"
