#pragma once
// Elementwise activations (ReLU, exact GELU). The forward saves its input; the derivative math
// lives in kernels/activations.hpp so the CUDA backend shares it.
#include <tspipe/cpu/backend.hpp>

namespace tspipe::cpu {

class Activation final : public Layer {
 public:
  enum class Function { relu, gelu };
  explicit Activation(Function f) : f_(f) {}

  std::string kind() const override { return f_ == Function::relu ? "ReLU" : "GELU"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

 private:
  Function f_;
};

}  // namespace tspipe::cpu
