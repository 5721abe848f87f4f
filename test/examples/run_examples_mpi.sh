#!/bin/sh
# run_examples_mpi.sh <mpirun> <resnet_kd> <mocov3_vit> <scratch folder>
# The training examples under mpirun, against one process:
#   1. resnet_kd alone, then under `mpirun -np 2 … --stages 2` (a stage per rank, R = 1): the same
#      losses and test accuracies, every epoch of every phase, printed once (by rank 0);
#   2. the same MPI run stopped after two epochs (--stop-after) and resumed under mpirun: the same
#      results again;
#   3. mocov3_vit under `mpirun -np 4 … --stages 2` (R = 2 replicas, InfoNCE over the whole batch
#      through GatheredLoss): finishes, every rank exiting 0, the result printed once;
#   4. bad input refused on every rank: a batch 2 replicas cannot share (exit 2), and --chunks 2,
#      which the library refuses for a distributed launch (exit 1, its message printed once).
# Every run must leave no process behind. This run's processes are found by a marker only they
# carry in their environment (mpirun hands its environment to its ranks), never by program name:
# other tests running the same programs at once under `ctest -j` are neither seen nor ended.
# Exit 77 (skipped) where mpirun is missing.
mpirun=$1 kd=$2 moco=$3 dir=$4
if [ -z "$mpirun" ] || ! command -v "$mpirun" >/dev/null 2>&1; then
  if command -v mpirun >/dev/null 2>&1; then mpirun=$(command -v mpirun); else
    echo "SKIP: mpirun not found (Debian: apt-get install openmpi-bin libopenmpi-dev)"
    exit 77
  fi
fi
data=${TSPIPE_FASHION_MNIST:+--data $TSPIPE_FASHION_MNIST}
rm -rf "$dir" && mkdir -p "$dir" || exit 1
marker="TSPIPE_EXAMPLES_MPI_TEST_RUN=$$.$(date +%s%N)"
status=0
fail() { echo "FAIL: $*"; status=1; }

own_processes() {
  for environ in /proc/[0-9]*/environ; do
    if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qxF "$marker"; then
      pid=${environ#/proc/}; echo "${pid%/environ}"
    fi
  done
}
# mpi <log> <ranks> <program> [args...]: one mpirun job, marked, within 150 s.
mpi() {
  log=$1 ranks=$2
  shift 2
  env "$marker" timeout -k 5 150 "$mpirun" --allow-run-as-root --oversubscribe --bind-to none -np "$ranks" "$@" >"$log" 2>&1
  code=$?
  echo "== $log: mpirun -np $ranks $(basename "$1") exited with $code"
  leftovers=$(own_processes)
  if [ -n "$leftovers" ]; then
    fail "processes of this run still running after mpirun returned: $leftovers"
    for pid in $leftovers; do kill -9 "$pid" 2>/dev/null; done
  fi
  return $code
}
# The figures a run prints: each epoch's loss and test accuracy (not its timing), the results.
figures() {
  grep -E "epoch [0-9]+/[0-9]+  loss|^  (teacher|student alone|distilled) " "$1" | sed -E 's/  [0-9.]+ ex\/s.*//'
}
results() { grep -E "^  (teacher|student alone|distilled) " "$1"; }

flags="--train-subset 256 --test-subset 200 --batch-size 32 --threads 1 --no-progress --epochs 1 --teacher-epochs 2
       --width 0.0625 --teacher-width 0.0625 --seed 3 $data"
# shellcheck disable=SC2086
"$kd" $flags --out "$dir/alone" >"$dir/alone.log" 2>&1 || { cat "$dir/alone.log"; fail "resnet_kd alone exited with $?"; }
# shellcheck disable=SC2086
mpi "$dir/mpi.log" 2 "$kd" --stages 2 $flags --out "$dir/mpi" || { cat "$dir/mpi.log"; fail "resnet_kd under mpirun"; }
figures "$dir/alone.log" >"$dir/alone.figures"
figures "$dir/mpi.log" >"$dir/mpi.figures"
echo "one process:"; cat "$dir/alone.figures"
echo "mpirun -np 2 --stages 2:"; cat "$dir/mpi.figures"
[ "$(wc -l <"$dir/alone.figures")" -eq 7 ] || fail "one process printed $(wc -l <"$dir/alone.figures") of 7 figures lines"
cmp -s "$dir/alone.figures" "$dir/mpi.figures" || fail "the MPI run's losses and accuracies differ from one process's"
[ "$(grep -c "^results (" "$dir/mpi.log")" -eq 1 ] || fail "the results were not printed exactly once"

# shellcheck disable=SC2086
mpi "$dir/stopped.log" 2 "$kd" --stages 2 $flags --stop-after 2 --out "$dir/resumed" || { cat "$dir/stopped.log"; fail "the stopped run"; }
grep -q "stopped after 2 epoch" "$dir/stopped.log" || fail "the run did not stop after 2 epochs"
# shellcheck disable=SC2086
mpi "$dir/resumed.log" 2 "$kd" --stages 2 $flags --resume --out "$dir/resumed" || { cat "$dir/resumed.log"; fail "the resumed run"; }
grep -q "teacher: resumed after epoch 2 of 2" "$dir/resumed.log" || fail "the resumed run did not continue after the teacher"
results "$dir/resumed.log" >"$dir/resumed.results"
results "$dir/alone.log" | cmp -s - "$dir/resumed.results" || { cat "$dir/resumed.results"; fail "the resumed MPI run's accuracies differ"; }

mpi "$dir/moco.log" 4 "$moco" --stages 2 --train-subset 256 --test-subset 200 --batch-size 32 --threads 1 --no-progress \
  --epochs 1 --vit-depth 2 --probe-epochs 5 $data --out "$dir/moco" || { cat "$dir/moco.log"; fail "mocov3_vit, 2 replicas"; }
grep -q "2 replica(s) × 2 stages; each replica trains on 16 of the 32 samples" "$dir/moco.log" || fail "mocov3_vit did not run 2 replicas"
[ "$(grep -c "^result: linear-probe test accuracy" "$dir/moco.log")" -eq 1 ] || fail "mocov3_vit's result was not printed exactly once"
[ -s "$dir/moco/mocov3/checkpoint.safetensors" ] || fail "mocov3_vit wrote no checkpoint"

# A global batch that 2 replicas cannot share equally: refused, once, naming the flag.
# shellcheck disable=SC2086
mpi "$dir/odd.log" 4 "$kd" --stages 2 --batch-size 33 --train-subset 256 --no-progress $data --out "$dir/odd"
[ $? -eq 2 ] || { cat "$dir/odd.log"; fail "--batch-size 33 over 2 replicas was not refused with exit 2"; }
[ "$(grep -c -- "--batch-size 33: must divide by the 2 replicas" "$dir/odd.log")" -eq 1 ] || { cat "$dir/odd.log"; fail "the refusal was not printed once"; }

# Virtual stages under mpirun: the library refuses them (it places one stage per process) before
# any collective call; rank 0 prints its message once, every rank ends with exit 1 (not an abort
# of the job), none is left behind, nothing is trained.
# shellcheck disable=SC2086
mpi "$dir/chunks.log" 2 "$kd" --stages 2 --chunks 2 --schedule interleaved-1f1b --train-subset 256 --no-progress $data --out "$dir/chunks"
chunks_code=$?
[ $chunks_code -eq 1 ] || { cat "$dir/chunks.log"; fail "--chunks 2 under mpirun exited with $chunks_code, not 1"; }
[ "$(grep -c "make_pipeline: chunks = 2: virtual stages run only with every device in one process" "$dir/chunks.log")" -eq 1 ] ||
  { cat "$dir/chunks.log"; fail "the library's refusal of --chunks 2 was not printed once"; }
! grep -qE "MPI_ABORT|epoch 1/" "$dir/chunks.log" || { cat "$dir/chunks.log"; fail "--chunks 2 under mpirun aborted the job or trained"; }

[ $status -eq 0 ] && echo "ok: the same figures alone and under mpirun, resumed under mpirun, and with 2 replicas; bad input refused on every rank"
exit $status
