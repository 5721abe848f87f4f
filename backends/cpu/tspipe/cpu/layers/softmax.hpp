#pragma once
// Softmax over the last axis (row math from kernels/softmax.hpp). Saves its output.
#include <tspipe/cpu/backend.hpp>

namespace tspipe::cpu {

class Softmax final : public Layer {
 public:
  std::string kind() const override { return "Softmax"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
};

}  // namespace tspipe::cpu
