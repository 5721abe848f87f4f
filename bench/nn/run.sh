#!/bin/sh
# Runs bench_nn and (when python3-torch is installed) torch_ref.py with the same thread count,
# and prints tspipe's time over PyTorch's per model (target: <= 1.5).
# Usage: bench/nn/run.sh [build-dir] [threads] [iterations]
set -eu
here=$(dirname "$0")
build=${1:-build/release}
threads=${2:-2}
iterations=${3:-3}
ours=$(OPENBLAS_NUM_THREADS=$threads "$build/bench/nn/bench_nn" "$threads" "$iterations")
echo "tspipe cpu (ms/iter, forward+backward, batch 64):"
echo "$ours"
python=/usr/bin/python3
[ -x "$python" ] || python=python3
if ! "$python" -c 'import torch' 2>/dev/null; then
  echo "python3-torch not installed: no PyTorch reference, no ratio"
  exit 0
fi
theirs=$(OMP_NUM_THREADS=$threads "$python" "$here/torch_ref.py" "$threads" "$iterations")
echo "pytorch (ms/iter):"
echo "$theirs"
echo "ratio tspipe/pytorch:"
printf '%s\n%s\n' "$ours" "$theirs" | awk '{ if ($1 in t) printf "  %s %.2f\n", $1, t[$1] / $2; else t[$1] = $2 }'
