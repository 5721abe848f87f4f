#!/usr/bin/env bash
# Sanitizer passes CI runs after the README's test command: ThreadSanitizer over the runtime
# suite (worker threads, mailboxes, version store) and AddressSanitizer + UBSan over the parsers,
# schedule core, data layer and nn math. Each builds only the suites it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake --preset tsan >/dev/null
cmake --build --preset tsan -j "$jobs" --target runtime_dispatch runtime_pipeline runtime_partition runtime_backend_hooks
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --preset tsan -j "$jobs" -L runtime

asan_targets=(schedule_ir schedule_generators schedule_validator schedule_simulator schedule_dynamic data_tests
              data_torchvision_compare nn_losses nn_optim nn_safetensors fuzz_schedule_replay fuzz_idx_replay
              fuzz_safetensors_replay fuzz_image_replay fuzz_records_replay schedule_torch_csv)
cmake --preset asan >/dev/null
cmake --build --preset asan -j "$jobs" --target "${asan_targets[@]}"
regex=$(IFS='|'; echo "^(${asan_targets[*]})\$")
ctest --preset asan -j "$jobs" -R "$regex"
