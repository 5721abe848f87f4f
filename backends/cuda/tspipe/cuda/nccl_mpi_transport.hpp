#pragma once
// NcclMpiTransport: runtime::Transport<cuda::Tensor> for one process per (replica, stage) rank,
// launched by mpirun with a distributed::mpi::MpiSession. Activations and gradients go GPU to GPU
// over NCCL; MPI carries only the set-up (and, through the session, the control traffic).
//
//   auto session = tspipe::distributed::mpi::MpiSession::start(S);      // mpirun -np R·S
//   auto nccl = tspipe::cuda::NcclMpiTransport::create(*session.value()); // collective
//   if (!nccl) { std::cerr << nccl.message() << "\n"; return 1; }
//   distribution.transport = nccl.value();                               // instead of MpiTransport
//
// Set-up, collective over every rank and in this order:
//   1. each rank picks its GPU (by default its node-local rank: mpirun places a replica's stages
//      on adjacent slots) and the ranks check, on the gathered (host, device) pairs, that no two
//      ranks of one host share a GPU (NCCL needs one device per rank);
//   2. rank 0 makes the ncclUniqueId and the session broadcasts it (MPI_Ibcast through its
//      progress engine, through which every MPI call of the process goes);
//   3. every rank joins the job-wide communicator (ncclCommInitRank) and cuts from it one two-rank
//      communicator per directed link to a neighbouring stage (nccl_mpi_layout.hpp) and, with R > 1
//      replicas, one per stage over its replicas (for average_over_replicas);
//   4. every link carries one word each way, so that NCCL's connections are made now, while every
//      rank is here, and a broken link fails the set-up rather than the first step.
// A step that fails on some rank fails on all (they agree over MPI before going on): nobody is
// left waiting in the next collective.
//
// Failures: every NCCL, CUDA or MPI failure names the call, file and line and comes back as a
// Status / Result. A receive that waits past its timeout names the rank it waited on ("that rank
// is lost or stalled"). stop() — the pipeline failed — aborts the NCCL communicators (releasing
// any stream waiting on a peer) and ends the job through the session, as MpiTransport does: the
// other ranks wait on messages this one will never send.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/distributed/mpi_session.hpp>
#include <tspipe/runtime/transport.hpp>

#include <nccl.h>

#include <memory>
#include <vector>

namespace tspipe::cuda {

/// Rank 0's new ncclUniqueId on every rank of `session` (broadcast over MPI). Needs no GPU.
/// Collective; fails on every rank when rank 0 could not make one.
Result<ncclUniqueId> broadcast_unique_id(distributed::mpi::MpiSession& session);

/// The GPU a rank uses by default: its rank on its node (OMPI_COMM_WORLD_LOCAL_RANK,
/// MPI_LOCALRANKID or SLURM_LOCALID; else its world rank) modulo `devices`.
int default_device(const distributed::mpi::RankLayout& layout, int devices);

class NcclMpiTransport final : public runtime::Transport<Tensor> {
 public:
  /// Collective over every rank (see the top of the file). `device` < 0: default_device.
  static Result<std::shared_ptr<NcclMpiTransport>> create(distributed::mpi::MpiSession& session, int device = -1);
  ~NcclMpiTransport() override;
  NcclMpiTransport(const NcclMpiTransport&) = delete;
  NcclMpiTransport& operator=(const NcclMpiTransport&) = delete;

  /// `to` must be a neighbour of this rank's stage. Queued on the link's stream after the work on
  /// the calling thread's current stream (which must be on device()); does not block the host.
  Status send(int to, const runtime::MessageKey& key, Tensor value, std::chrono::milliseconds timeout) override;
  /// `at` must be this rank's stage. The tensor is ready on the calling thread's current stream.
  Result<Tensor> receive(int at, const runtime::MessageKey& key, std::chrono::milliseconds timeout) override;
  /// Aborts the NCCL communicators and ends the job with `reason` (does not return).
  void stop(const std::string& reason) override;

  /// Replaces every tensor by its mean over the replicas of this rank's stage (ncclAllReduce with
  /// ncclAvg, one NCCL group), queued on the calling thread's current stream. Collective over
  /// those replicas, who must pass tensors of the same sizes in the same order. Data parallelism
  /// for device-resident gradients; with one replica it does nothing.
  Status average_over_replicas(const std::vector<Tensor*>& tensors);

  int device() const noexcept { return device_; }
  /// Messages received but not yet taken.
  std::size_t pending();

  struct Impl;

 private:
  NcclMpiTransport(distributed::mpi::MpiSession& session, int device);
  distributed::mpi::MpiSession& session_;
  int device_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tspipe::cuda
