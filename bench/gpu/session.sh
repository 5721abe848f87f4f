#!/usr/bin/env bash
# Everything one lent GPU session runs, in one call (GPU time is lent by the minute):
#  1. check.sh --prebuilt: the ResNet-50 / ViT-B/16 timings on a quiet GPU, then the gpu tests and
#     a short resnet_kd on CUDA;
#  2. as soon as the timings are over, beside 1: the accuracy bench on the GPU (bench/accuracy/
#     run.sh), seeds 0–2 in parallel: the full-data teacher and the students distilled from it,
#     and BYOL with δ = 0 and δ = 1.
# Prints check.sh's report and one line per accuracy run; every log goes to $OUT/logs.tar.gz.
#   bench/gpu/session.sh BUNDLE     # BUNDLE: the folder bench/gpu/pack.sh wrote, carried along
# TEACHER_ARGS, BYOL_ARGS, SEEDS and ACCURACY_TIMEOUT (seconds per seed, default 300) override.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
logs=/tmp/tspipe-logs
out=${OUT:-/tmp/tspipe-out}
mkdir -p "$logs" "$out"
. "$root/bench/gpu/prebuilt_env.sh" "${1:?usage: session.sh BUNDLE}"
read -r -a seeds <<<"${SEEDS:-0 1 2}"

LOGS=$logs "$root/bench/gpu/check.sh" --prebuilt "$bundle" >"$logs/check.log" 2>&1 &
check=$!
while [ ! -e "$logs/bench.done" ] && kill -0 "$check" 2>/dev/null; do sleep 1; done

export EXTRA_ARGS="--backend cuda --data $bundle/data"
export TEACHER_ARGS=${TEACHER_ARGS:---teacher-only --teacher-depth 8 --teacher-width 0.5 --epochs 10 --batch-size 128 --lr 0.1 --weight-decay 5e-4 --crop-pad 2}
export BYOL_ARGS=${BYOL_ARGS:---train-subset 16384 --test-subset 0 --epochs 4 --batch-size 128 --width 0.25 --probe-epochs 20 --init-probe}
pids=()
for seed in "${seeds[@]}"; do
  for part in teacher byol; do
    PARTS=$part timeout "${ACCURACY_TIMEOUT:-300}" "$root/bench/accuracy/run.sh" "$bundle/bin" "$logs/accuracy" "$seed" \
      >"$logs/accuracy-$part-$seed.txt" 2>&1 &
    pids+=($!)
  done
done
wait "$check"; status=$?
cat "$logs/check.log"
for pid in "${pids[@]}"; do wait "$pid"; done
echo "== accuracy on the GPU (bench/accuracy/run.sh, EXTRA_ARGS=\"$EXTRA_ARGS\")"
echo "   TEACHER_ARGS=$TEACHER_ARGS"
echo "   BYOL_ARGS=$BYOL_ARGS"
cat "$logs"/accuracy-*.txt
for f in "$logs"/accuracy/*.log; do  # a run that did not finish: its last words
  grep -q "^wrote " "$f" || { echo "-- $(basename "$f") did not finish:"; tail -n 4 "$f"; }
done
grep -h "epoch" "$logs"/accuracy/teacher_seed*.log 2>/dev/null | tail -n 6
tar -C "$logs" -czf "$out/logs.tar.gz" --exclude='*.safetensors' --exclude='*.ckpt' . 2>/dev/null
exit $status
