#!/bin/sh
# bench/mpi/run_bench.sh [build dir] [batches] [rounds]: S = 2 KD pipeline, examples/s in one
# process vs two MPI ranks on this machine (target: MPI overhead ≤ 10%).
#
# On a shared machine one run per mode measures the neighbours more than the transport (two runs
# minutes apart gave +16% and −11%). So the modes run side by side in `rounds` rounds, the order
# alternating (in-process first in odd rounds, MPI first in even ones) so that a slow drift in load
# hits both alike; each round gives one ratio, and the median ratio over the rounds is the result,
# printed with the spread (min and max ratio) and every run.
build=${1:-build/mpi}
batches=${2:-64}
rounds=${3:-9}
bench=$build/bench/mpi/bench_mpi
[ -x "$bench" ] || { echo "no $bench: cmake --build $build --target bench_mpi"; exit 1; }
mpirun=$(command -v mpirun || command -v mpiexec) ||
  { echo "SKIP: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }

in_process() { "$bench" in-process "$batches" | awk '/examples/ {print $3}'; }
mpi() {
  "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np 2 "$bench" mpi "$batches" | awk '/examples/ {print $3}'
}

echo "S = 2, KD, 1f1b, M = 4, batch 128, $batches measured batches per run, $rounds rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %16s %16s %14s\n" round "in-process ex/s" "MPI ex/s" "MPI overhead"
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
round=1
while [ "$round" -le "$rounds" ]; do
  if [ $((round % 2)) -eq 1 ]; then a=$(in_process); b=$(mpi); else b=$(mpi); a=$(in_process); fi
  [ -n "$a" ] && [ -n "$b" ] || { echo "round $round: a run printed no figure (in-process '$a', MPI '$b')"; exit 1; }
  awk -v r="$round" -v a="$a" -v b="$b" 'BEGIN { printf "%-6s %16.1f %16.1f %13.1f%%\n", r, a, b, (a / b - 1) * 100 }'
  echo "$a $b" >>"$runs"
  round=$((round + 1))
done
# Overhead per round = in-process / MPI − 1; the median of the rounds, and their min and max.
awk '{ print ($1 / $2 - 1) * 100, $1, $2 }' "$runs" | sort -g | awk -v load="$(cut -d' ' -f1-3 /proc/loadavg)" '
  { o[NR] = $1; a[NR] = $2; b[NR] = $3 }
  END {
    n = NR
    median = (n % 2) ? o[(n + 1) / 2] : (o[n / 2] + o[n / 2 + 1]) / 2
    printf "median MPI overhead %.1f%% over %d rounds (spread %.1f%% .. %.1f%%; target <= 10%%); load after: %s\n", median, n, o[1], o[n], load
  }'
