#pragma once
// Builds one Pipeline per rank that together form R replicas of an S-stage pipeline: the same
// partition and cost model on every rank (rank 0's), this rank's stage run locally, the others
// reached through the transport, and the replica and checkpoint collectives hooked in through the
// pipeline's Distribution.
#include <tspipe/distributed/checkpoint_gather.hpp>
#include <tspipe/distributed/collectives.hpp>
#include <tspipe/distributed/mpi_session.hpp>
#include <tspipe/distributed/mpi_transport.hpp>
#include <tspipe/distributed/rank_layout.hpp>
#include <tspipe/distributed/replica_average.hpp>
#include <tspipe/error.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/nn/tensor.hpp>
#include <tspipe/pipeline.hpp>
#include <tspipe/runtime/transport.hpp>
#include <tspipe/schedule/workload.hpp>

#include <cstddef>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace tspipe::distributed::mpi {

namespace detail {
/// Why a pipeline of device tensors cannot be distributed without a transport argument.
inline std::string missing_device_transport() {
  return "device tensors need a device transport (the transport argument, e.g. cuda::NcclMpiTransport::create); "
         "MpiTransport carries host tensors only";
}

/// Rank 0's cost model, on every rank (so the cost-aware generators order actions alike).
inline Status broadcast_costs(MpiSession& session, schedule::CostModel& costs) {
  static_assert(std::is_trivially_copyable_v<schedule::StageCost>);
  std::vector<std::byte> bytes(sizeof(double) + costs.stages.size() * sizeof(schedule::StageCost));
  std::memcpy(bytes.data(), &costs.per_action_overhead, sizeof(double));
  if (!costs.stages.empty()) std::memcpy(bytes.data() + sizeof(double), costs.stages.data(), costs.stages.size() * sizeof(schedule::StageCost));
  if (Status s = broadcast_bytes(session, bytes, 0, "the profiled cost model"); !s) return s;
  std::memcpy(&costs.per_action_overhead, bytes.data(), sizeof(double));
  costs.stages.resize((bytes.size() - sizeof(double)) / sizeof(schedule::StageCost));
  if (!costs.stages.empty()) std::memcpy(costs.stages.data(), bytes.data() + sizeof(double), costs.stages.size() * sizeof(schedule::StageCost));
  return {};
}
}  // namespace detail

/// The hooks that spread `pipeline` over the ranks of `session` (see Distribution). `transport`
/// carries the activations and gradients: MpiTransport when null; a device backend passes its own
/// (cuda::NcclMpiTransport: GPU to GPU over NCCL).
template <class B>
typename Pipeline<B>::Distribution distribution(MpiSession& session, Pipeline<B>& pipeline,
                                               std::shared_ptr<runtime::Transport<typename B::Tensor>> transport = nullptr) {
  using Tensor = typename B::Tensor;
  typename Pipeline<B>::Distribution d;
  d.local_stages = {session.layout().stage()};
  if (transport) {
    d.transport = std::move(transport);
  } else if constexpr (std::is_same_v<Tensor, nn::Tensor>) {
    d.transport = std::make_shared<MpiTransport<Tensor>>(session);
  } else {
    throw Error("mpi::distribution: " + detail::missing_device_transport());
  }
  if (session.layout().replicas > 1)
    d.reduce_gradients = [&session, &pipeline, t = d.transport](int s, const auto& gradients) {
      ReplicaAverage<B>::run(session, *t, pipeline, s, gradients);
    };
  d.gather_checkpoint = [&session](nn::SafetensorsContent& content) {
    auto writer = gather_checkpoint(session, content);
    if (!writer) throw Error(writer.message());
    return writer.value();
  };
  return d;
}

/// Builds the pipeline on every rank with the same partition and schedule and distributes it.
/// `build` makes a Pipeline from options (the caller's models, loss and optimizer). With
/// automatic partitioning, rank 0 profiles and partitions; the others build with its cuts (each
/// process would otherwise profile its own timings and might cut differently). The timing profile
/// that the cost-aware generators order actions by is rank 0's too, so every rank generates the
/// same schedule (differing orders could deadlock between ranks). `transport`: see distribution.
template <class B>
Result<std::unique_ptr<Pipeline<B>>> make_pipeline(MpiSession& session, PipelineOptions options,
                                                   const std::function<std::unique_ptr<Pipeline<B>>(const PipelineOptions&)>& build,
                                                   std::shared_ptr<runtime::Transport<typename B::Tensor>> transport = nullptr) {
  using R = Result<std::unique_ptr<Pipeline<B>>>;
  if constexpr (!std::is_same_v<typename B::Tensor, nn::Tensor>)
    if (!transport) return R::failure("make_pipeline: " + detail::missing_device_transport());
  const RankLayout& l = session.layout();
  if (options.stages != l.stages)
    return R::failure("make_pipeline: the options ask for " + std::to_string(options.stages) + " stages, the MPI session has " +
                      std::to_string(l.stages));
  if (options.chunks > 1)  // every rank has the same options: all refuse, none waits
    return R::failure("make_pipeline: chunks = " + std::to_string(options.chunks) +
                      ": virtual stages run only with every device in one process; a distributed launch runs one chunk "
                      "per device (chunks = 1)");
  std::unique_ptr<Pipeline<B>> pipeline;
  std::string build_error;
  const auto try_build = [&] {
    try {
      pipeline = build(options);
      if (!pipeline) build_error = "the build function returned null";
    } catch (const std::exception& e) {
      build_error = e.what();
    }
  };
  // Rank 0 builds first and sends [built?, teacher cuts…, student cuts…] to the others.
  if (l.rank == 0) try_build();
  std::vector<int> plan(static_cast<std::size_t>(1 + 2 * (l.stages - 1)), 0);
  if (l.rank == 0 && pipeline) {
    plan[0] = 1;
    const auto& p = pipeline->partition();
    for (int s = 1; s < l.stages; ++s) {
      plan[static_cast<std::size_t>(s)] = p.teacher_bounds[static_cast<std::size_t>(s)];
      plan[static_cast<std::size_t>(l.stages - 1 + s)] = p.student_bounds[static_cast<std::size_t>(s)];
    }
  }
  std::vector<std::byte> bytes(plan.size() * sizeof(int));
  std::memcpy(bytes.data(), plan.data(), bytes.size());
  if (Status s = broadcast_bytes(session, bytes, 0, "the partition"); !s) return R::failure(s.message());
  std::memcpy(plan.data(), bytes.data(), bytes.size());
  if (!plan[0]) return R::failure(l.rank == 0 ? "make_pipeline: " + build_error : "make_pipeline: rank 0 could not build the pipeline");
  if (l.rank != 0) {
    options.teacher_cuts.assign(plan.begin() + 1, plan.begin() + l.stages);
    options.student_cuts.assign(plan.begin() + l.stages, plan.end());
    try_build();
  }
  // Every rank says whether it built; all fail together rather than leave some waiting.
  const auto built = on_every_rank(session, pipeline != nullptr, "the build results");
  if (!built) return R::failure(built.message());
  if (!built.value()) return R::failure("make_pipeline: " + (pipeline ? std::string("another rank could not build the pipeline") : build_error));

  schedule::CostModel costs = pipeline->profiled_costs();
  if (Status s = detail::broadcast_costs(session, costs); !s) return R::failure(s.message());
  pipeline->set_profiled_costs(costs);
  pipeline->set_distribution(distribution<B>(session, *pipeline, std::move(transport)));
  return R(std::move(pipeline));
}

}  // namespace tspipe::distributed::mpi
