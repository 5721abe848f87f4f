#!/usr/bin/env bash
# Sanitizer passes CI runs after the README's test command: ThreadSanitizer over the runtime
# suite (worker threads, mailboxes, version store) and AddressSanitizer + UBSan over the parsers,
# schedule core, data layer and nn math, and the hostile-input catalogue over the programs
# themselves. Each builds only the suites it runs.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
jobs=$(nproc)

cmake --preset tsan >/dev/null
# Every suite labelled runtime (a suite's test and target share its name), so a new one is built too.
mapfile -t runtime_suites < <(ctest --preset tsan -L runtime -N | sed -n 's/^ *Test *#[0-9]*: //p')
cmake --build --preset tsan -j "$jobs" --target "${runtime_suites[@]}"
TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" ctest --preset tsan -j "$jobs" -L runtime

asan_targets=(schedule_ir schedule_generators schedule_validator schedule_simulator schedule_dynamic data_tests
              data_torchvision_compare nn_losses nn_optim nn_safetensors fuzz_schedule_replay fuzz_idx_replay
              fuzz_safetensors_replay fuzz_image_replay fuzz_records_replay schedule_torch_csv schedule_limits
              fuzz_workload_replay nn_checksums kernels_reduced_precision nn_loss_scaler nn_multi_tensor_plan)
# The hostile-input catalogue (test/hostile) runs the programs themselves; under ASan, the cases of
# tspipe-sim (the parsers of schedules, cost tables and PyTorch CSVs). The training examples' cases
# and their own hostile suites (run-state files, kill and resume) run in the plain build: the
# examples read their run state with <regex>, where GCC 12 under ASan warns falsely.
hostile_programs=(tspipe-sim)
cmake --preset asan -DTSPIPE_BUILD_EXAMPLES=ON >/dev/null
cmake --build --preset asan -j "$jobs" --target "${asan_targets[@]}" "${hostile_programs[@]}"
regex=$(IFS='|'; echo "^(${asan_targets[*]})\$")
ctest --preset asan -j "$jobs" -R "$regex"
ctest --preset asan -j "$jobs" -L "^hostile-program-($(IFS='|'; echo "${hostile_programs[*]}"))\$"
