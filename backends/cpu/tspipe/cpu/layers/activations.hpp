#pragma once
// Elementwise activations (ReLU, exact GELU). The forward saves its input; the derivative math
// lives in kernels/activations.hpp so the CUDA backend shares it, and the checks and messages in
// nn::shells::ActivationShell.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer_shells/activations.hpp>

namespace tspipe::cpu {

class Activation final : public nn::shells::ActivationShell<Backend, Activation> {
 public:
  using Function = kernels::Activation;
  explicit Activation(Function f) : ActivationShell(f) {}

 private:
  friend class nn::shells::ActivationShell<Backend, Activation>;
  void forward_elements(const Tensor& x, Tensor& y);
  void backward_elements(const Tensor& x, const Tensor& dy, Tensor& dx);
};

}  // namespace tspipe::cpu
