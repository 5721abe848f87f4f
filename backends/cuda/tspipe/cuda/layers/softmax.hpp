#pragma once
// Softmax over the last axis (a warp per row); the forward saves y.
#include <tspipe/cuda/backend.hpp>

namespace tspipe::cuda {

class Softmax final : public Layer {
 public:
  std::string kind() const override { return "Softmax"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
};

}  // namespace tspipe::cuda
