#pragma once
// ReLU and exact GELU, elementwise (kernels/activations.hpp math); the forward saves x. Checks and
// messages are nn::shells::ActivationShell's; this is the compute.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/nn/layer_shells/activations.hpp>

namespace tspipe::cuda {

class Activation final : public nn::shells::ActivationShell<Backend, Activation> {
 public:
  explicit Activation(launch::Activation f) : ActivationShell(f), f_(f) {}

 private:
  friend class nn::shells::ActivationShell<Backend, Activation>;
  void forward_elements(const Tensor& x, Tensor& y);
  void backward_elements(const Tensor& x, const Tensor& dy, Tensor& dx);
  launch::Activation f_;
};

}  // namespace tspipe::cuda
