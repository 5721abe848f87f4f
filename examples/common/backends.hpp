#pragma once
// What the examples need from a backend beyond nn's Layer interface: the way its tensors leave and
// reach the host, and its loss and optimizer classes. The CPU backend's live in nn, the CUDA
// backend's in tspipe::cuda under the same names and options, so the training loop and the
// examples are written once against BackendKit<B> and instantiated for each backend built.
// TSPIPE_EXAMPLES_CUDA is 1 when the examples are linked with the CUDA backend.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/pipeline.hpp>
#include <tspipe/runtime/tensor_ops.hpp>
#if TSPIPE_EXAMPLES_CUDA
#include <tspipe/cuda/pipeline.hpp>
#endif

#include <string>
#include <utility>

namespace tspipe::examples {

/// The loss and optimizer classes of one backend under the names the examples use.
template <class CrossEntropy, class SoftTargetKD, class Byol, class MocoV3, class SgdOptimizer, class LarsOptimizer,
          class AdamWOptimizer>
struct LossesAndOptimizers {
  using CrossEntropyLoss = CrossEntropy;
  using SoftTargetKDLoss = SoftTargetKD;
  using ByolLoss = Byol;
  using MocoV3Loss = MocoV3;
  using Sgd = SgdOptimizer;
  using Lars = LarsOptimizer;
  using AdamW = AdamWOptimizer;
};

template <class B>
struct BackendKit;

template <>
struct BackendKit<cpu::Backend> : LossesAndOptimizers<nn::CrossEntropyLoss, nn::SoftTargetKDLoss, nn::ByolLoss,
                                                      nn::MocoV3Loss, nn::Sgd, nn::Lars, nn::AdamW> {
  static nn::Tensor upload(nn::Tensor host) { return host; }
};

#if TSPIPE_EXAMPLES_CUDA
template <>
struct BackendKit<cuda::Backend> : LossesAndOptimizers<cuda::CrossEntropyLoss, cuda::SoftTargetKDLoss, cuda::ByolLoss,
                                                       cuda::MocoV3Loss, cuda::Sgd, cuda::Lars, cuda::AdamW> {
  /// On the calling thread's current stream (the pipeline orders its stages after it).
  static cuda::Tensor upload(const nn::Tensor& host) { return cuda::Tensor::from_host(host); }
};
#endif

/// Downloads (a device backend synchronises the current stream first).
template <class T>
nn::Tensor download(const T& t) {
  return runtime::TensorOps<T>::to_host(t);
}

/// Runs `body.template operator()<B>()` for the backend `resolved` names ("cpu" or "cuda", as
/// resolve_backend returns), so an example's body is one generic lambda.
template <class Body>
int with_backend(const std::string& resolved, Body&& body) {
#if TSPIPE_EXAMPLES_CUDA
  if (resolved == "cuda") return std::forward<Body>(body).template operator()<cuda::Backend>();
#endif
  (void)resolved;
  return std::forward<Body>(body).template operator()<cpu::Backend>();
}

}  // namespace tspipe::examples
