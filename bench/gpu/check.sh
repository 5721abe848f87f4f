#!/usr/bin/env bash
# One command for a GPU machine: build the CUDA backend (Release, sm_90 unless ARCH says
# otherwise), run the `gpu` tests, and time forward+backward of ResNet-50 and ViT-B/16 (batch 64,
# 3×224×224) against PyTorch + cuDNN on the same GPU, printing tspipe/PyTorch ratios (target ≤ 1.2).
#   bench/gpu/check.sh                 # BUILD_DIR, ARCH, BATCH, ITERS, PYTHON override defaults
# Budget: about 8 minutes on one H200 with 16 cores (build ≈ 2–3 min, tests ≈ 1–2, bench ≈ 1).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${BUILD_DIR:-$root/build/gpu-check}
arch=${ARCH:-90}
batch=${BATCH:-64}
iters=${ITERS:-10}
python=${PYTHON:-python3}
jobs=$(nproc 2>/dev/null || echo 8)

cuda_args=()
if ! command -v nvcc >/dev/null 2>&1 && [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
common=(-DCMAKE_BUILD_TYPE=Release -DTSPIPE_CUDA_BACKEND=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" "${cuda_args[@]}")

echo "== configure ($build, sm_$arch)"
tests=1
if ! cmake -S "$root/bench/gpu" -B "$build" "${common[@]}" >"$build.configure.log" 2>&1; then
  # The tests need doctest and the CPU backend (OpenBLAS) as references; without them, bench only.
  echo "   full configure failed (see $build.configure.log); building the benchmark alone"
  tests=0
  rm -rf "$build"
  cmake -S "$root/bench/gpu" -B "$build" "${common[@]}" -DTSPIPE_BUILD_TESTS=OFF -DTSPIPE_CPU_BACKEND=OFF \
    >"$build.configure.log" 2>&1 || { cat "$build.configure.log"; exit 1; }
fi

echo "== build"
targets=(tspipe_gpu_bench)
[ "$tests" = 1 ] && targets+=(cuda_no_device cuda_ops cuda_models cuda_pipeline)
start=$(date +%s)
cmake --build "$build" -j"$jobs" --target "${targets[@]}" 2>&1 | tail -n 5
[ "${PIPESTATUS[0]}" = 0 ] || { echo "build failed"; exit 1; }
echo "   built in $(( $(date +%s) - start )) s"

status=0
if [ "$tests" = 1 ]; then
  echo "== gpu tests"
  ctest --test-dir "$build" -L "gpu|cuda" --output-on-failure --timeout 300 || status=1
else
  echo "== gpu tests: NOT RUN (doctest or the CPU backend unavailable here)"
fi

echo "== forward+backward step time, batch $batch (fp32 and TF32, TF32 set alike on both sides)"
bin=$(find "$build" -name tspipe_gpu_bench -type f -perm -u+x | head -n 1)
printf '%-10s %-5s %12s %12s %8s\n' model tf32 "tspipe ms" "torch ms" ratio
for model in resnet50 vit_b16; do
  for tf32 in "" --tf32; do
    ours=$("$bin" "$model" "$batch" "$iters" $tf32 2>/dev/null | awk '$1=="tspipe"{print $4}')
    theirs=$("$python" "$root/bench/gpu/torch_models.py" "$model" "$batch" "$iters" $tf32 2>/dev/null |
             awk '$1=="torch"{print $4}')
    ratio=$(awk -v a="${ours:-nan}" -v b="${theirs:-nan}" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.2f", a/b; else print "n/a" }')
    printf '%-10s %-5s %12s %12s %8s\n' "$model" "$( [ -n "$tf32" ] && echo on || echo off )" "${ours:-failed}" "${theirs:-failed}" "$ratio"
  done
done
echo "(ratio = tspipe / PyTorch; target ≤ 1.20)"
exit $status
