#!/usr/bin/env bash
# The README's main job: a short knowledge-distillation run on Fashion-MNIST through a 2-stage
# tspipe pipeline (teacher, student alone, distilled student; a few minutes on 2 CPU cores, seconds
# on a GPU), ending with the schedule comparison of the run's own profiled costs. Installs what is
# missing. --backend auto: CUDA when the build found the CUDA Toolkit, cuDNN and NCCL and a GPU
# answers, else the CPU (resnet_kd's first line says which).
# Extra arguments go to resnet_kd (see `resnet_kd --help`), e.g. --epochs 5 --train-subset 10000.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target resnet_kd tspipe-sim
exec build/release/examples/resnet_kd/resnet_kd --backend auto --stages 2 \
  --train-subset 4096 --test-subset 2000 --epochs 2 --teacher-epochs 3 --overwrite --out out/resnet_kd "$@"
