#!/usr/bin/env bash
# Bundles the GPU tests, the benchmark and resnet_kd, built here, with the CPU-side libraries they
# need that a GPU machine's CUDA image lacks (OpenBLAS and its Fortran runtime), plus
# Fashion-MNIST, for `bench/gpu/check.sh --prebuilt DEST` there. cuDNN, cuBLAS, NCCL and
# the CUDA runtime are not carried: the GPU machine has its own (check.sh finds them).
#   bench/gpu/pack.sh [BUILD_DIR=build/core] [DEST=.gpu]   # BUILD_DIR configured with CUDA, sm_90
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "${1:-$root/build/core}" && pwd)
dest=${2:-$root/.gpu}
rm -rf "$dest" && mkdir -p "$dest/bin" "$dest/lib" "$dest/data"
for path in test/cuda/cuda_no_device test/cuda/cuda_ops test/cuda/cuda_models test/cuda/cuda_pipeline \
            test/examples/examples_cuda bench/gpu/tspipe_gpu_bench examples/resnet_kd/resnet_kd \
            examples/byol_resnet/byol_resnet examples/mocov3_vit/mocov3_vit; do
  [ -x "$build/$path" ] || { echo "pack.sh: $build/$path is not built" >&2; exit 1; }
  strip -o "$dest/bin/$(basename "$path")" "$build/$path"
done
# The libraries ldd resolves outside the CUDA toolkit and the C runtime.
ldd "$dest/bin/cuda_ops" | awk '/=> \//{print $3}' | grep -E 'openblas|gfortran|quadmath' |
  while read -r lib; do cp -L "$lib" "$dest/lib/$(basename "$lib")"; done
[ -n "$(ls "$dest/lib")" ] || { echo "pack.sh: found no OpenBLAS in ldd's output" >&2; exit 1; }
# The whole dataset (30 MB, already compressed): the accuracy bench can train on the GPU too.
cp /usr/share/datasets/fashion-mnist/*-ubyte.gz "$dest/data/"
# xz shrinks the binaries and OpenBLAS about fourfold; the data stays beside it as it is.
tar -C "$dest" -cJf "$dest/bundle.tar.xz" bin lib && rm -rf "$dest/bin" "$dest/lib"
du -sh "$dest"/*
