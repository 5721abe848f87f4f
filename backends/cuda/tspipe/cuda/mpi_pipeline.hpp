#pragma once
// Pipelines of device tensors under mpirun. Include this, not <tspipe/distributed/mpi.hpp> alone,
// to launch Pipeline<cuda::Backend> with distributed::mpi::make_pipeline and a
// cuda::NcclMpiTransport:
//
//   auto nccl = tspipe::cuda::NcclMpiTransport::create(session);              // collective
//   auto pipeline = tspipe::distributed::mpi::make_pipeline<tspipe::cuda::Backend>(session, options, build, nccl.value());
//
// It supplies the one step that differs from host tensors: with R > 1 replicas, each stage's
// student gradients and BatchNorm running statistics (the same ones the host path averages, see
// running_statistics_tensors) are averaged where they live, on the GPU, with ncclAllReduce over
// the stage's replicas, queued on the stage's stream right before its OPT.
#include <tspipe/cuda/nccl_mpi_transport.hpp>
#include <tspipe/cuda/pipeline.hpp>
#include <tspipe/distributed/mpi.hpp>

#include <string>
#include <vector>

namespace tspipe::distributed::mpi {

template <>
struct ReplicaAverage<cuda::Backend> {
  static void run(MpiSession& /*session*/, runtime::Transport<cuda::Tensor>& transport, Pipeline<cuda::Backend>& pipeline, int s,
                  const std::vector<cuda::Parameter>& gradients) {
    auto* nccl = dynamic_cast<cuda::NcclMpiTransport*>(&transport);
    if (!nccl)
      throw Error("replica average of stage " + std::to_string(s) +
                  ": device gradients are averaged over NCCL, so the pipeline's transport must be a cuda::NcclMpiTransport");
    std::vector<cuda::Tensor*> tensors;
    for (const cuda::Parameter& p : gradients) tensors.push_back(p.grad);
    for (cuda::Tensor* t : running_statistics_tensors(pipeline, s)) tensors.push_back(t);
    if (Status averaged = nccl->average_over_replicas(tensors); !averaged) throw Error(averaged.message());
  }
};

}  // namespace tspipe::distributed::mpi
