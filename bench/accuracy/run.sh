#!/usr/bin/env bash
# Accuracy bench (issue 6): (a) BYOL with δ = 0 vs δ = 1, identical seeds; (b) KD: distilled
# student vs the student alone. Prints one line per run and the per-setting means.
#   bench/accuracy/run.sh BUILD_DIR OUT_DIR [SEEDS...]
# Sizes are set for a 2-core CPU (minutes per run); raise them with the environment variables
# below when more compute is at hand (0 = the whole 60000/10000 images).
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR OUT_DIR [SEEDS...]}
out=${2:?usage: run.sh BUILD_DIR OUT_DIR [SEEDS...]}
shift 2
[ $# -gt 0 ] && seeds=("$@") || seeds=(0 1 2)
byol_args=${BYOL_ARGS:---train-subset 1024 --test-subset 1000 --epochs 2 --batch-size 64 --width 0.125 --probe-epochs 20}
kd_args=${KD_ARGS:---train-subset 2048 --test-subset 1000 --epochs 2 --teacher-epochs 3 --batch-size 64}
mkdir -p "$out"
summary() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join(f'{k}={v}' for k,v in r.items()))" "$1"; }

for seed in "${seeds[@]}"; do
  for delta in 0 1; do
    dir="$out/byol_seed${seed}_delta${delta}"
    "$build/examples/byol_resnet/byol_resnet" $byol_args --staleness "$delta" --seed "$seed" --out "$dir" --no-progress > "$dir.log" 2>&1
    echo "byol seed=$seed delta=$delta $(summary "$dir/summary.json")"
  done
done
for seed in "${seeds[@]}"; do
  dir="$out/kd_seed${seed}"
  "$build/examples/resnet_kd/resnet_kd" $kd_args --seed "$seed" --out "$dir" --no-progress > "$dir.log" 2>&1
  echo "kd seed=$seed $(summary "$dir/summary.json")"
done
