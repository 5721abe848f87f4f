#!/usr/bin/env bash
# Accuracy bench (targets in bench/RESULTS.md): (a) BYOL with δ = 0 vs δ = 1, identical seeds; (b) KD: distilled
# student vs the student alone; (c) the full-data teacher (60000 training images, all 10000 test
# images), then the KD students distilled from that teacher's checkpoint. Prints one line per run.
#   bench/accuracy/run.sh BUILD_DIR OUT_DIR [SEEDS...]
# BUILD_DIR is a build tree, or a folder holding the example binaries themselves (bench/gpu/pack.sh's
# bundle). EXTRA_ARGS go to every run (e.g. "--backend cuda --data DIR" on a GPU machine).
# PARTS selects the parts (default "byol kd"; "teacher" is the full-data part: 10 epochs, about
# 100 s per seed on one H200 (bench/gpu/session.sh); 150–480 s per epoch on a shared 2-core CPU,
# so 25–80 minutes per seed there, plus ~5 minutes of students).
# BYOL runs also report the linear probe of the untrained backbone (--init-probe), the baseline.
# Sizes are set for a 2-core CPU; raise them with the environment variables below when more
# compute is at hand (0 = the whole 60000/10000 images).
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR OUT_DIR [SEEDS...]}
out=${2:?usage: run.sh BUILD_DIR OUT_DIR [SEEDS...]}
shift 2
[ $# -gt 0 ] && seeds=("$@") || seeds=(0 1 2)
byol_args=${BYOL_ARGS:---train-subset 1024 --test-subset 1000 --epochs 2 --batch-size 64 --width 0.125 --probe-epochs 20 --init-probe}
kd_args=${KD_ARGS:---train-subset 2048 --test-subset 1000 --epochs 2 --teacher-epochs 3 --batch-size 64}
# (c): the teacher, a compact ResNet-8×0.5 (3×3 stem + 2×2 max-pool, one basic block per stage at
# 32/64/128 channels), trained on all 60000 images; then the students on a subset, with the
# teacher loaded from its checkpoint (and re-tested on the full test set).
teacher_args=${TEACHER_ARGS:---teacher-only --teacher-depth 8 --teacher-width 0.5 --epochs 10 --batch-size 128 --lr 0.1 --weight-decay 5e-4 --crop-pad 2}
student_args=${STUDENT_ARGS:---teacher-depth 8 --teacher-width 0.5 --train-subset 4096 --epochs 2 --batch-size 64 --crop-pad 2}
parts=${PARTS:-byol kd}
extra_args=${EXTRA_ARGS:-}
example() { [ -x "$build/examples/$1/$1" ] && echo "$build/examples/$1/$1" || echo "$build/$1"; }
byol_bin=$(example byol_resnet)
kd_bin=$(example resnet_kd)
mkdir -p "$out"
summary() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join(f'{k}={v}' for k,v in r.items()))" "$1"; }

has_part() { [[ " $parts " == *" $1 "* ]]; }

has_part byol && for seed in "${seeds[@]}"; do
  for delta in 0 1; do
    dir="$out/byol_seed${seed}_delta${delta}"
    "$byol_bin" $byol_args $extra_args --staleness "$delta" --seed "$seed" --out "$dir" --no-progress > "$dir.log" 2>&1
    echo "byol seed=$seed delta=$delta $(summary "$dir/summary.json")"
  done
done
has_part kd && for seed in "${seeds[@]}"; do
  dir="$out/kd_seed${seed}"
  "$kd_bin" $kd_args $extra_args --seed "$seed" --out "$dir" --no-progress > "$dir.log" 2>&1
  echo "kd seed=$seed $(summary "$dir/summary.json")"
done
has_part teacher && for seed in "${seeds[@]}"; do
  dir="$out/teacher_seed${seed}"
  "$kd_bin" $teacher_args $extra_args --seed "$seed" --out "$dir" --no-progress > "$dir.log" 2>&1
  echo "teacher seed=$seed $(summary "$dir/summary.json")"
  dir="$out/kd_full_teacher_seed${seed}"
  "$kd_bin" $student_args $extra_args --teacher-checkpoint "$out/teacher_seed${seed}/teacher/checkpoint.safetensors" \
    --seed "$seed" --out "$dir" --no-progress > "$dir.log" 2>&1
  echo "kd-from-full-teacher seed=$seed $(summary "$dir/summary.json")"
done
true
