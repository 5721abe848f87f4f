#pragma once
// The types the pipeline's classes name for a backend B, declared once so that Pipeline, its
// SegmentExecutor and its PipelineCheckpoint cannot disagree on them. Each class inherits them
// (users name them as Pipeline<B>::Tensor, Pipeline<B>::Loss, Pipeline<B>::OptimizerFactory, …);
// what differs between host and device backends comes from runtime::BackendHooks<B>.
#include <tspipe/pipeline/options.hpp>
#include <tspipe/runtime/backend_hooks.hpp>
#include <tspipe/runtime/stage.hpp>
#include <tspipe/runtime/tensor_ops.hpp>

#include <functional>
#include <memory>
#include <vector>

namespace tspipe {

template <class B>
struct BackendTypes {
  using Tensor = typename B::Tensor;
  using Ops = runtime::TensorOps<Tensor>;
  using Hooks = runtime::BackendHooks<B>;
  using Loss = typename Hooks::Loss;  ///< what Pipeline<B> takes as its loss
  /// Makes one stage's optimizer (tspipe::OptimizerFactory for host backends).
  using OptimizerFactory = std::function<std::unique_ptr<typename Hooks::Optimizer>()>;
  /// How the pipeline is spread over processes (pipeline/options.hpp).
  using Distribution = tspipe::Distribution<Tensor, typename Hooks::StudentSlot>;
  using Stage = runtime::Stage<B>;
  using Stages = std::vector<std::unique_ptr<Stage>>;
};

}  // namespace tspipe
