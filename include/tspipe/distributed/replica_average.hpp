#pragma once
// Data parallelism over R pipeline replicas: right before each stage's OPT, its student gradients
// and BatchNorm running statistics are replaced by their mean over the replicas of that stage, so
// every replica takes the same optimizer step from the same state and the momentum teacher's EMA
// stays identical everywhere.
#include <tspipe/distributed/mpi_session.hpp>
#include <tspipe/error.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/pipeline.hpp>
#include <tspipe/runtime/tensor_ops.hpp>
#include <tspipe/runtime/transport.hpp>
#include <tspipe/update/teacher_policy.hpp>

#include <mpi.h>

#include <climits>
#include <cstddef>
#include <span>
#include <string>
#include <vector>

namespace tspipe::distributed::mpi {

/// Replaces every gradient in `gradients`, and every value in `statistics` (BatchNorm running
/// statistics, see running_statistics), by its mean over the replicas of this rank's stage, in
/// one packed all-reduce per step.
inline Status average_over_replicas(MpiSession& session, const std::vector<nn::ParamSlot>& gradients,
                                    const std::vector<std::span<float>>& statistics = {}) {
  const int replicas = session.layout().replicas;
  if (replicas == 1) return {};
  std::vector<std::span<float>> parts;
  for (const auto& slot : gradients) parts.push_back(slot.grad);
  parts.insert(parts.end(), statistics.begin(), statistics.end());
  std::size_t total = 0;
  for (const auto& part : parts) total += part.size();
  if (total > static_cast<std::size_t>(INT_MAX)) return Status::failure("replica average: more than INT_MAX values in one stage");
  std::vector<float> packed;
  packed.reserve(total);
  for (const auto& part : parts) packed.insert(packed.end(), part.begin(), part.end());
  MPI_Comm comm = session.replicas_comm();
  const Status reduced = session.engine().run(
      "MPI_Iallreduce of stage " + std::to_string(session.layout().stage()) + "'s gradients and running statistics over " + std::to_string(replicas) + " replicas",
      [&](MPI_Request* r) { return MPI_Iallreduce(MPI_IN_PLACE, packed.data(), static_cast<int>(total), MPI_FLOAT, MPI_SUM, comm, r); },
      session.options().collective_timeout);
  if (!reduced) return reduced;
  const float scale = 1.0f / static_cast<float>(replicas);
  std::size_t at = 0;
  for (const auto& part : parts)
    for (float& value : part) value = packed[at++] * scale;
  return {};
}

/// The BatchNorm running statistics of stage `s` that the replicas average at each OPT: the
/// student's, and the teacher's where the teacher policy derives them from the student's (copy or
/// average at EMA); a teacher that keeps its own never changes them.
///
/// Why: each replica's forwards update the running statistics with its own shard only, so without
/// this the replicas would drift apart and a checkpoint (replica 0's stages) would hold statistics
/// of 1/R of the data, depending on the layout. Averaged, every replica holds the same statistics
/// right after each OPT (and at the end of a run, hence in every checkpoint); as in DDP without
/// SyncBN, batches are still normalised with each shard's own statistics. The running mean equals
/// one process's on the whole batch where the shards' micro-batches line up (the update is linear
/// in the batch mean); the running variance is the mean of the shards' variances (without the
/// spread between the shards' means).
template <class B>
std::vector<typename B::Tensor*> running_statistics_tensors(Pipeline<B>& pipeline, int s) {
  auto& st = pipeline.stage(s);
  std::vector<typename B::Tensor*> statistics;
  for (auto& b : st.student.buffers()) statistics.push_back(b.value);
  if (pipeline.options().teacher.buffers != update::TeacherBuffers::keep)
    for (auto& b : st.teacher.buffers()) statistics.push_back(b.value);
  return statistics;
}

/// running_statistics_tensors as host memory (host tensors only).
template <class B>
std::vector<std::span<float>> running_statistics(Pipeline<B>& pipeline, int s) {
  std::vector<std::span<float>> statistics;
  for (auto* t : running_statistics_tensors(pipeline, s)) statistics.push_back(runtime::TensorOps<typename B::Tensor>::host(*t));
  return statistics;
}

/// How stage `s`'s student gradients and running statistics are averaged over its replicas right
/// before its OPT. Host tensors: average_over_replicas (MPI_Iallreduce of host memory). A device
/// backend specialises this beside its transport, which owns the device collectives (CUDA:
/// <tspipe/cuda/mpi_pipeline.hpp>, ncclAllReduce through cuda::NcclMpiTransport).
template <class B>
struct ReplicaAverage {
  static void run(MpiSession& session, runtime::Transport<typename B::Tensor>& /*transport*/, Pipeline<B>& pipeline, int s,
                  const std::vector<nn::ParamSlot>& gradients) {
    if (Status st = average_over_replicas(session, gradients, running_statistics(pipeline, s)); !st) throw Error(st.message());
  }
};

}  // namespace tspipe::distributed::mpi
