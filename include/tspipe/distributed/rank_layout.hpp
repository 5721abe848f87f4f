#pragma once
// Where each MPI rank of a job sits: which replica, which pipeline stage. Plain arithmetic on the
// rank number (no MPI), so that plans built on it (the NCCL communicator splits) are testable on
// any machine.
#include <tspipe/error.hpp>

#include <string>

namespace tspipe::distributed::mpi {

/// rank = replica · stages + stage. The stages of one replica are adjacent ranks, so mpirun's
/// default by-slot mapping keeps a pipeline's neighbours on one node (fast links carry the
/// activations), and the replicas of a stage span nodes (only the once-per-batch gradient
/// all-reduce crosses the network).
struct RankLayout {
  int world_size = 1;
  int rank = 0;
  int stages = 1;
  int replicas = 1;

  int replica() const { return rank / stages; }
  int stage() const { return rank % stages; }
  int replica_of(int r) const { return r / stages; }
  int stage_of(int r) const { return r % stages; }
  int rank_of(int replica_index, int stage_index) const { return replica_index * stages + stage_index; }
  /// The one rank that prints progress: it runs replica 0's last stage, where losses are reported.
  bool logs() const { return replica() == 0 && stage() == stages - 1; }
  /// The one rank that writes checkpoints (it receives every stage's part).
  bool writes_checkpoints() const { return rank == 0; }

  std::string describe(int r) const {
    return "rank " + std::to_string(r) + " (replica " + std::to_string(replica_of(r)) + ", stage " +
           std::to_string(stage_of(r)) + ")";
  }
  std::string describe() const { return describe(rank); }

  static Result<RankLayout> make(int world_size, int rank, int stages) {
    if (stages < 1) return Result<RankLayout>::failure("MPI launch: stages = " + std::to_string(stages) + " must be at least 1");
    if (world_size % stages != 0)
      return Result<RankLayout>::failure("MPI launch: " + std::to_string(world_size) + " ranks cannot hold whole replicas of a " +
                                         std::to_string(stages) + "-stage pipeline (one rank per stage: run mpirun -np R·" +
                                         std::to_string(stages) + ")");
    return RankLayout{world_size, rank, stages, world_size / stages};
  }
};

}  // namespace tspipe::distributed::mpi
