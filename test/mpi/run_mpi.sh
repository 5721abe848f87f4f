#!/bin/sh
# run_mpi.sh <mpirun> <ranks> <pass|rank-lost|gpu> <program> [args...]
#   pass:      mpirun must exit 0.
#   gpu:       as pass, but first `<program> devices <ranks>` must find a GPU per rank (else it
#              prints why and the test is skipped, exit 77).
#   rank-lost: rank 1 dies or stops mid-run; mpirun must exit non-zero within 60 s, and rank 0
#              must print a message naming rank 1.
# Either way no rank may outlive the run (a leftover is reported, ended by its pid, and fails).
# Leftovers are found by a marker only this run's processes carry in their environment (mpirun
# hands its environment to the ranks it starts), never by program name: tests that run the same
# program at once under `ctest -j` must not see, let alone end, each other's ranks.
# Exit 77 (CTest SKIP_RETURN_CODE) where mpirun is missing.
mpirun=$1 ranks=$2 expect=$3
shift 3
program=$1
if [ -z "$mpirun" ] || ! command -v "$mpirun" >/dev/null 2>&1; then
  if command -v mpirun >/dev/null 2>&1; then mpirun=$(command -v mpirun); else
    echo "SKIP: mpirun not found (Debian: apt-get install openmpi-bin libopenmpi-dev)"
    exit 77
  fi
fi
if [ "$expect" = gpu ]; then
  "$program" devices "$ranks" || exit $?
  expect=pass
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
marker="TSPIPE_MPI_TEST_RUN=$$.$(date +%s%N)"
# The processes of this run: every pid whose environment holds the marker. This shell itself
# never does (the marker is given to the mpirun command alone, below).
own_processes() {
  for environ in /proc/[0-9]*/environ; do
    if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qxF "$marker"; then
      pid=${environ#/proc/}; echo "${pid%/environ}"
    fi
  done
}
start=$(date +%s)
# --bind-to none: oversubscribed ranks must be free to use every core for their threads.
env "$marker" timeout -k 5 85 "$mpirun" --allow-run-as-root --oversubscribe --bind-to none \
  -np "$ranks" "$@" >"$log" 2>&1
status=$?
elapsed=$(( $(date +%s) - start ))
cat "$log"
echo "run_mpi.sh: mpirun exited with $status after ${elapsed} s"

leftovers=$(own_processes)
if [ -n "$leftovers" ]; then
  echo "FAIL: processes of this run still running after mpirun returned: $leftovers"
  for pid in $leftovers; do kill -9 "$pid" 2>/dev/null; done
  exit 1
fi

case $expect in
  pass)
    exit $status ;;
  rank-lost)
    if [ "$status" -eq 0 ]; then echo "FAIL: the job succeeded although a rank died"; exit 1; fi
    if [ "$status" -eq 124 ] || [ "$elapsed" -ge 60 ]; then echo "FAIL: the job took ${elapsed} s to end (limit 60 s)"; exit 1; fi
    if ! grep -q "tspipe: rank 0 .*rank 1" "$log"; then
      echo "FAIL: rank 0 printed no message naming the lost rank 1"; exit 1
    fi
    echo "ok: every rank ended ${elapsed} s after rank 1 died, naming it"
    exit 0 ;;
esac
echo "run_mpi.sh: unknown expectation '$expect'"
exit 2
