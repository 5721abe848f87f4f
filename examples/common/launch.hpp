#pragma once
// How an example's process runs: alone, with every pipeline stage in it, or as one rank of an
// `mpirun -np N` job, where rank = replica · S + stage runs one stage of one of R = N / S
// replicas and each replica trains on its shard of every batch (docs/user-guide.md A.10). What
// differs between the two goes through here: starting MPI, which process prints (rank 0: the
// other ranks' standard output is discarded), the collectives the training loop needs (the
// epoch's loss, evaluation results, the student's weights), and how a failure ends the job.
//
// TSPIPE_EXAMPLES_MPI is 1 when the examples are built with MPI (CMake found tspipe::mpi). A
// build without it refuses to run as one of several ranks: each would train the whole model into
// the same --out.
#include "cli.hpp"

#include <cstddef>
#include <cstring>
#include <exception>
#include <optional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#if TSPIPE_EXAMPLES_MPI
namespace tspipe::distributed::mpi {
class MpiSession;
}
#endif

namespace tspipe::examples {

struct Launch {
  int world_size = 1;  ///< processes of the job; 1 alone
  int rank = 0;
  int stages = 1;      ///< under MPI, S: each rank runs one stage

  bool distributed() const { return world_size > 1; }
  int replicas() const { return world_size / stages; }
  int replica() const { return rank / stages; }
  int stage() const { return rank % stages; }
  int rank_of(int replica_index, int stage_index) const { return replica_index * stages + stage_index; }
  /// The one process that prints and writes the run's files.
  bool prints() const { return rank == 0; }
};

/// This process's launch; until begin_run, what the launcher's environment says (OpenMPI's
/// OMPI_COMM_WORLD_SIZE/RANK, or PMI_SIZE/PMI_RANK), so that only rank 0 reports bad flags.
const Launch& launch();

/// Discards standard output on every rank but 0 (each would print the same lines).
void silence_other_ranks();

/// Settles how a run whose flags passed check_common_options goes, before it reads data:
///   * `--schedule sequential` runs whole batches: M becomes 1, said in one line;
///   * launched as N > 1 ranks, starts MPI with S = --stages (N a multiple of S); the global batch
///     stays --batch-size, split into R equal shards (it must divide by R); the CPU backend;
///   * otherwise resolves --backend (resolve_backend);
///   * prepares --out (prepare_out_dir: a previous run needs --resume or --overwrite; `phases`
///     are the subdirectories this run writes).
/// Throws UsageError naming the flag (exit 2), on every rank alike.
void begin_run(CommonOptions& options, const std::vector<std::string>& phases);

/// The end of a run that every process reaches: under MPI, waits for every rank, then finalises.
void end_launch();
/// The end of a run that failed in this process alone: under MPI, prints `message` naming the rank
/// and ends every rank of the job (the others would wait for it); returns alone.
void abort_launch(const std::string& message);

/// A failure every process of the run knows of (agreed): exit 1, printed once, by rank 0.
struct AgreedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Rethrows `failure` (null: none) of this process so that every process throws alike: alone,
/// `failure` itself; under MPI, when any process failed, the first failing rank's message as
/// UsageError (it was one) or AgreedError, on every rank.
void settle(std::exception_ptr failure);

/// Runs `f` on every process and agrees on the outcome (settle): one failing process makes every
/// process throw its message. For the steps that may fail on some ranks only (reading files,
/// building the pipeline), so that none is left waiting in the next collective.
template <class F>
auto agreed(F&& f) {
  using T = std::invoke_result_t<F&>;
  std::exception_ptr failure;
  if constexpr (std::is_void_v<T>) {
    try {
      f();
    } catch (...) {
      failure = std::current_exception();
    }
    settle(failure);
  } else {
    std::optional<T> value;
    try {
      value.emplace(f());
    } catch (...) {
      failure = std::current_exception();
    }
    settle(failure);
    return std::move(*value);
  }
}

/// Element-wise sums over every process, added in rank order (alone: `values`).
std::vector<double> sum_over_processes(std::vector<double> values);
/// `bytes` as process `root` holds them, on every process.
void share_from(int root, std::vector<std::byte>& bytes);

/// share_from for values: `values` as process `root` holds them (the others' are replaced).
template <class T>
std::vector<T> shared_from(int root, const std::vector<T>& values) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::vector<std::byte> bytes(values.size() * sizeof(T));
  if (!values.empty()) std::memcpy(bytes.data(), values.data(), bytes.size());
  share_from(root, bytes);
  std::vector<T> out(bytes.size() / sizeof(T));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(T));
  return out;
}
/// gather_from_processes for values: every process's `mine`, in rank order.
template <class T>
std::vector<std::vector<T>> gathered(const std::vector<T>& mine) {
  std::vector<std::vector<T>> all;
  for (int r = 0; r < launch().world_size; ++r) all.push_back(shared_from(r, r == launch().rank ? mine : std::vector<T>{}));
  return all;
}

/// Processes of this job on this machine (their OpenBLAS threads share its cores).
int processes_on_this_machine();

#if TSPIPE_EXAMPLES_MPI
/// The MPI session of a distributed launch (Error when there is none).
distributed::mpi::MpiSession& mpi_session();
#endif

}  // namespace tspipe::examples
