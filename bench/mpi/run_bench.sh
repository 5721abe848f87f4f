#!/bin/sh
# bench/mpi/run_bench.sh [build dir] [batches] [rounds]: S = 2 KD pipeline, examples/s in one
# process vs two MPI ranks on this machine (target: MPI overhead ≤ 10%).
#
# On a shared machine one run per mode measures the neighbours more than the transport (two runs
# minutes apart gave +16% and −11%). So the modes run side by side in `rounds` rounds, the order
# alternating (in-process first in odd rounds, MPI first in even ones) so that a slow drift in load
# hits both alike; each round gives one ratio, and the median ratio over the rounds is the result,
# printed with the spread (min and max ratio) and every run. CPU ms per batch (every thread of
# the process, both ranks summed under MPI) is printed beside it: the cost of the MPI mode that
# the neighbours' load moves least.
build=${1:-build/mpi}
batches=${2:-64}
rounds=${3:-9}
bench=$build/bench/mpi/bench_mpi
[ -x "$bench" ] || { echo "no $bench: cmake --build $build --target bench_mpi"; exit 1; }
mpirun=$(command -v mpirun || command -v mpiexec) ||
  { echo "SKIP: mpirun not found (apt-get install openmpi-bin libopenmpi-dev)"; exit 77; }

# Each prints "examples/s cpu_ms_per_batch".
in_process() { "$bench" in-process "$batches" | awk '/examples/ {print $3, $5}'; }
mpi() {
  "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np 2 "$bench" mpi "$batches" | awk '/examples/ {print $3, $5}'
}

echo "S = 2, KD, 1f1b, M = 4, batch 128, $batches measured batches per run, $rounds rounds; load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf "%-6s %16s %16s %14s %18s %14s\n" round "in-process ex/s" "MPI ex/s" "MPI overhead" "CPU ms/batch in/MPI" "CPU overhead"
runs=$(mktemp)
trap 'rm -f "$runs"' EXIT
round=1
while [ "$round" -le "$rounds" ]; do
  if [ $((round % 2)) -eq 1 ]; then a=$(in_process); b=$(mpi); else b=$(mpi); a=$(in_process); fi
  [ -n "$a" ] && [ -n "$b" ] || { echo "round $round: a run printed no figure (in-process '$a', MPI '$b')"; exit 1; }
  echo "$a $b" | awk -v r="$round" '{ printf "%-6s %16.1f %16.1f %13.1f%% %9.1f / %-7.1f %13.1f%%\n", r, $1, $3, ($1 / $3 - 1) * 100, $2, $4, ($4 / $2 - 1) * 100 }'
  echo "$a $b" >>"$runs"
  round=$((round + 1))
done
# Per round: throughput overhead = in-process / MPI − 1, CPU overhead = MPI CPU / in-process CPU − 1.
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%.1f %.1f %.1f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'; }
throughput=$(awk '{ print ($1 / $3 - 1) * 100 }' "$runs" | median)
cpu=$(awk '{ print ($4 / $2 - 1) * 100 }' "$runs" | median)
echo "$throughput" | awk -v n="$rounds" '{ printf "median MPI overhead (examples/s) %.1f%% over %d rounds, spread %.1f%% .. %.1f%% (target <= 10%%)\n", $1, n, $2, $3 }'
echo "$cpu" | awk '{ printf "median MPI CPU overhead (ms per batch) %.1f%%, spread %.1f%% .. %.1f%%\n", $1, $2, $3 }'
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
