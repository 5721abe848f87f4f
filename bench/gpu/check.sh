#!/usr/bin/env bash
# One command for a GPU machine: build the CUDA backend (Release, sm_90 unless ARCH says
# otherwise), run the `gpu` tests, and time forward+backward of ResNet-50 and ViT-B/16 (batch 64,
# 3×224×224) against PyTorch + cuDNN on the same GPU, printing tspipe/PyTorch ratios (target ≤ 1.2).
#   bench/gpu/check.sh                    # BUILD_DIR, ARCH, BATCH, ITERS, PYTHON override defaults
#   bench/gpu/check.sh --prebuilt BUNDLE  # the same tests and timings on binaries bench/gpu/pack.sh
#                                         # built and bundled on another machine (no build here)
# Budget: about 8 minutes on one H200 with 16 cores (build ≈ 2–3 min, tests ≈ 1–2, bench ≈ 1).
# The prebuilt form exists because GPU time is lent by the minute and the GPU machine lacks the
# tests' CPU references (doctest, OpenBLAS): build where those are, run where the GPU is.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
batch=${BATCH:-64}
iters=${ITERS:-10}
python=${PYTHON:-python3}
jobs=$(nproc 2>/dev/null || echo 8)
logs=${LOGS:-${OUT:-/tmp}}   # full logs of each test and timing; $OUT on the lent GPU machine
mkdir -p "$logs"

# Runs the gpu suites at once (one GPU has room for all of them) and reports each one's outcome.
# examples_cuda runs the example binaries: TSPIPE_EXAMPLES_BIN says where they are when they were
# built elsewhere, TSPIPE_FASHION_MNIST where the data is.
run_gpu_tests() {  # test binaries (paths)
  local status=0 t name pids=() names=()
  for t in "$@"; do
    name=$(basename "$t")
    [ -x "$t" ] || { echo "   $name: NOT BUILT"; status=1; continue; }
    (cd "$logs" && timeout 300 "$t" >"$logs/$name.log" 2>&1) &
    pids+=($!); names+=("$name")
  done
  for i in "${!pids[@]}"; do
    wait "${pids[$i]}"; local rc=$?
    local summary; summary=$(grep -E "^\[doctest\] (test cases|assertions)" "$logs/${names[$i]}.log" | tr '\n' ' ')
    case $rc in
      0) echo "   ${names[$i]}: passed  $summary" ;;
      77) echo "   ${names[$i]}: SKIPPED ($(head -n 1 "$logs/${names[$i]}.log"))"; status=1 ;;
      124) echo "   ${names[$i]}: TIMED OUT after 300 s"; status=1 ;;
      *) echo "   ${names[$i]}: FAILED (exit $rc)  $summary"; status=1
         grep -E "ERROR|error:|CHECK|REQUIRE|TEST CASE|what\(\)|values:|logged:" "$logs/${names[$i]}.log" | head -n 40 ;;
    esac
  done
  return $status
}
gpu_tests=(cuda_no_device cuda_ops cuda_models cuda_pipeline)

if [ "${1:-}" = "--prebuilt" ]; then
  . "$root/bench/gpu/prebuilt_env.sh" "${2:?--prebuilt needs the bundle folder pack.sh wrote}"
  bindir=$bundle/bin
  echo "== prebuilt binaries from $bundle; libraries from $LD_LIBRARY_PATH"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  for b in "$bindir"/*; do
    missing=$(ldd "$b" 2>&1 | grep "not found")
    [ -z "$missing" ] || echo "   $(basename "$b") misses: $missing"
  done
  status=0
  tests=("${gpu_tests[@]/#/$bindir/}" "$bindir/examples_cuda")
  export TSPIPE_EXAMPLES_BIN=$bindir TSPIPE_FASHION_MNIST=$bundle/data
  bin=$bindir/tspipe_gpu_bench
else
  build=${BUILD_DIR:-$root/build/gpu-check}
  arch=${ARCH:-90}
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
  [ "$tests" = 1 ] && targets+=("${gpu_tests[@]}" examples_cuda)
  start=$(date +%s)
  cmake --build "$build" -j"$jobs" --target "${targets[@]}" 2>&1 | tail -n 5
  [ "${PIPESTATUS[0]}" = 0 ] || { echo "build failed"; exit 1; }
  echo "   built in $(( $(date +%s) - start )) s"

  status=0
  tests_built=$tests
  tests=()
  [ "$tests_built" = 1 ] && tests=("${gpu_tests[@]/#/$build/test/cuda/}" "$build/test/examples/examples_cuda")
  bin=$(find "$build" -name tspipe_gpu_bench -type f -perm -u+x | head -n 1)
fi

echo "== forward+backward step time, batch $batch (fp32 and TF32, TF32 set alike on both sides)"
printf '%-10s %-5s %12s %12s %8s\n' model tf32 "tspipe ms" "torch ms" ratio
for model in resnet50 vit_b16; do
  for tf32 in "" --tf32; do
    tag=$model${tf32:+-tf32}
    ours=$("$bin" "$model" "$batch" "$iters" $tf32 2>"$logs/bench-$tag.err" | tee "$logs/bench-$tag.out" |
           awk '$1=="tspipe"{print $4}')
    theirs=$("$python" "$root/bench/gpu/torch_models.py" "$model" "$batch" "$iters" $tf32 2>"$logs/torch-$tag.err" |
             awk '$1=="torch"{print $4}')
    ratio=$(awk -v a="${ours:-nan}" -v b="${theirs:-nan}" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.2f", a/b; else print "n/a" }')
    printf '%-10s %-5s %12s %12s %8s\n' "$model" "$( [ -n "$tf32" ] && echo on || echo off )" "${ours:-failed}" "${theirs:-failed}" "$ratio"
    [ -n "$ours" ] || { head -c 600 "$logs/bench-$tag.out" "$logs/bench-$tag.err"; status=1; }
  done
done
echo "(ratio = tspipe / PyTorch; target ≤ 1.20)"
touch "$logs/bench.done"   # timings over: other GPU work may start (bench/gpu/session.sh waits for this)

# The tests, and the README's main job on the GPU (a short distillation through a 2-stage
# pipeline), side by side: neither is timed.
kd=${bin%/*}/resnet_kd
data=${DATA:-${bundle:-}/data}
[ -d "$data" ] || data=/usr/share/datasets/fashion-mnist
kd_pid=
if [ -x "$kd" ] && [ -d "$data" ]; then
  (cd "$logs" && exec timeout 180 "$kd" --backend cuda --data "$data" --train-subset 4096 --test-subset 2000 \
     --epochs 2 --batch-size 64 --no-progress --out "$logs/resnet_kd") >"$logs/resnet_kd.log" 2>&1 &
  kd_pid=$!
fi
if [ "${#tests[@]}" -gt 0 ]; then
  echo "== gpu tests"
  run_gpu_tests "${tests[@]}" || status=1
else
  echo "== gpu tests: NOT RUN (doctest or the CPU backend unavailable here)"
fi
if [ -n "$kd_pid" ]; then
  echo "== resnet_kd --backend cuda (4096 training images, 2 epochs, $data)"
  if wait "$kd_pid"; then
    grep -E "epoch|accuracy|teacher|student|examples/s" "$logs/resnet_kd.log" | tail -n 12
  else
    echo "   resnet_kd FAILED:"; tail -n 20 "$logs/resnet_kd.log"; status=1
  fi
fi
exit $status

