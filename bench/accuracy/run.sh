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
# Self-supervised parts (docs/ssl-recipes.md):
#   ssl-knn        the CPU operating point: BYOL (compact ResNet-8×0.25) and MoCo-v3 (ViT) with the
#                  kNN monitor; prints each run's kNN curve beside the untrained backbone's value
#                  (about 18 + 11 minutes per seed on the loaded shared 2-core machine).
#   ssl-staleness  δ = 0, 1, 2 and δ = 1 with warm-up K = $SSL_WARMUP_K, for BYOL and MoCo-v3 at
#                  SSL_BYOL_ARGS / SSL_MOCO_ARGS, then the table of staleness_table.py (mean, spread
#                  and a 95 % confidence interval of each difference to δ = 0 over the seeds). The
#                  arguments default to the CPU operating point; the GPU operating point (probe
#                  ≥ 85 %) is not yet chosen.
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
ssl_byol_args=${SSL_BYOL_ARGS:---depth 8 --width 0.25 --train-subset 16384 --test-subset 5000 --epochs 12 --batch-size 64 --lr 2 --tau0 0.99 --crop-min 0.3 --probe-epochs 10 --knn-subset 5000 --init-probe}
ssl_moco_args=${SSL_MOCO_ARGS:---train-subset 16384 --test-subset 5000 --epochs 10 --batch-size 128 --lr 1.5e-3 --crop-min 0.3 --probe-epochs 10 --knn-subset 5000 --init-probe}
ssl_warmup_k=${SSL_WARMUP_K:-100}
parts=${PARTS:-byol kd}
extra_args=${EXTRA_ARGS:-}
example() { [ -x "$build/examples/$1/$1" ] && echo "$build/examples/$1/$1" || echo "$build/$1"; }
byol_bin=$(example byol_resnet)
moco_bin=$(example mocov3_vit)
kd_bin=$(example resnet_kd)
mkdir -p "$out"
summary() { python3 -c "import json,sys; r=json.load(open(sys.argv[1]))['results']; print(' '.join(f'{k}={v}' for k,v in r.items()))" "$1"; }

has_part() { [[ " $parts " == *" $1 "* ]]; }
# The kNN monitor per epoch, after the untrained backbone's value.
knn_curve() { python3 -c "import json,sys; s=json.load(open(sys.argv[1])); r=s['results']; p=next(iter(s['phases'].values()))
print('kNN % random init', round(100*r['random_init_knn_accuracy'],2), '| per epoch', ' '.join(str(round(100*h['knn_accuracy'],2)) for h in p['history']))" "$1"; }
# ssl_run NAME BINARY ARGS...: one self-supervised run into $out/NAME, its results printed.
ssl_run() {
  local name=$1 bin=$2; shift 2
  "$bin" "$@" $extra_args --out "$out/$name" --no-progress > "$out/$name.log" 2>&1
  echo "$name $(summary "$out/$name/summary.json")"
}

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
has_part ssl-knn && for seed in "${seeds[@]}"; do
  ssl_run "ssl_byol_seed${seed}" "$byol_bin" $ssl_byol_args --seed "$seed"
  knn_curve "$out/ssl_byol_seed${seed}/summary.json"
  ssl_run "ssl_moco_seed${seed}" "$moco_bin" $ssl_moco_args --seed "$seed"
  knn_curve "$out/ssl_moco_seed${seed}/summary.json"
done
if has_part ssl-staleness; then
  for seed in "${seeds[@]}"; do
    for config in "0 0" "1 0" "2 0" "1 $ssl_warmup_k"; do
      read -r delta k <<<"$config"
      ssl_run "stale_byol_seed${seed}_d${delta}_k${k}" "$byol_bin" $ssl_byol_args --staleness "$delta" --warmup "$k" --seed "$seed"
      ssl_run "stale_moco_seed${seed}_d${delta}_k${k}" "$moco_bin" $ssl_moco_args --staleness "$delta" --warmup "$k" --seed "$seed"
    done
  done
  python3 "$(dirname "$0")/staleness_table.py" "$out"
fi
true
