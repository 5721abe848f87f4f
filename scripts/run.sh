#!/usr/bin/env bash
# The README's main job: a short knowledge-distillation run on Fashion-MNIST through a 2-stage
# tspipe pipeline (teacher, student alone, distilled student; a few minutes on 2 CPU cores),
# ending with the schedule comparison of the run's own profiled costs. Installs what is missing.
# Extra arguments go to resnet_kd (see `resnet_kd --help`), e.g. --epochs 5 --train-subset 10000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target resnet_kd tspipe-sim
backend=cpu
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  echo "tspipe: a GPU is present, but the examples run on the CPU backend until the CUDA backend is linked into them"
fi
exec build/release/examples/resnet_kd/resnet_kd --backend "$backend" --stages 2 \
  --train-subset 2048 --test-subset 1000 --epochs 2 --teacher-epochs 3 --out out/resnet_kd "$@"
