#!/bin/sh
# bench/mpi/run_bench.sh [build dir] [batches]: S = 2 KD pipeline, examples/s in one process vs two
# MPI ranks on this machine, side by side (target: MPI overhead ≤ 10%). Each mode runs three
# times; the best of each is compared (a shared machine's noise only ever slows a run down).
build=${1:-build/mpi}
batches=${2:-16}
bench=$build/bench/mpi/bench_mpi
[ -x "$bench" ] || { echo "no $bench: cmake --build $build --target bench_mpi"; exit 1; }
command -v mpirun >/dev/null 2>&1 || { echo "SKIP: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }
best() { sort -g | tail -1; }
in_process=$(for i in 1 2 3; do "$bench" in-process "$batches" | awk '{print $3}'; done | best)
mpi=$(for i in 1 2 3; do
  mpirun --allow-run-as-root --oversubscribe --bind-to none -np 2 "$bench" mpi "$batches" | awk '/examples/ {print $3}'
done | best)
awk -v a="$in_process" -v b="$mpi" 'BEGIN {
  printf "%-34s %12s\n", "S = 2, KD, 1f1b, M = 4", "examples/s"
  printf "%-34s %12.1f\n", "in-process (2 stage threads)", a
  printf "%-34s %12.1f\n", "MPI (2 ranks, mpirun)", b
  printf "%-34s %11.1f%%   (target <= 10%%)\n", "MPI overhead", (a / b - 1) * 100
}'
