#!/usr/bin/env bash
# A fuzzing campaign: builds every libFuzzer target (the `fuzz` preset: clang, ASan + UBSan with
# UBSan findings fatal) and runs each for MINUTES minutes, one after another, starting from its
# seed corpus in test/fuzz/corpus. New inputs go to a scratch folder, not the repository; a crash
# stops the campaign with the reproducer's path. Prints one line per target (runs, coverage,
# corpus size) for bench/RESULTS.md.
#   bench/fuzz/run.sh [MINUTES=10] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../.."
minutes=${1:-10}
shift || true
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
  targets=(fuzz_safetensors fuzz_idx fuzz_schedule fuzz_workload fuzz_image fuzz_records fuzz_checkpoint)
fi
declare -A corpus=([fuzz_safetensors]=safetensors [fuzz_idx]=idx [fuzz_schedule]=schedule [fuzz_workload]=workload
                   [fuzz_image]=image [fuzz_records]=records [fuzz_checkpoint]=checkpoint)

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz --target "${targets[@]}" -j "$(nproc)"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tspipe_fuzz.XXXXXX")
echo "campaign: ${minutes} min per target, commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ), scratch $scratch"
for target in "${targets[@]}"; do
  work="$scratch/$target"
  mkdir -p "$work/corpus" "$work/artifacts"
  log="$work/log.txt"
  if ! build/fuzz/test/fuzz/"$target" "$work/corpus" "test/fuzz/corpus/${corpus[$target]}" \
       -max_total_time=$((minutes * 60)) -rss_limit_mb=4096 -timeout=30 -print_final_stats=1 \
       -artifact_prefix="$work/artifacts/" >"$log" 2>&1; then
    echo "$target: FAILED, see $log"
    grep -E "ERROR|SUMMARY|Test unit written" "$log" | head -5
    exit 1
  fi
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$log" | grep -oE "[0-9]+$")
  last=$(grep -E "^#[0-9]+" "$log" | tail -1)
  cov=$(grep -oE "cov: [0-9]+" <<<"$last" | grep -oE "[0-9]+" || echo "?")
  echo "$target: ${minutes} min, ${runs} runs, coverage ${cov} edges, corpus $(ls "$work/corpus" | wc -l) new inputs, no crash"
done
