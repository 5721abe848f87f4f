#pragma once
// ReLU and exact GELU, elementwise (kernels/activations.hpp math); the forward saves x.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/cuda/launchers.hpp>

namespace tspipe::cuda {

class Activation final : public Layer {
 public:
  explicit Activation(launch::Activation f) : f_(f) {}
  std::string kind() const override { return f_ == launch::Activation::relu ? "ReLU" : "GELU"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

 private:
  launch::Activation f_;
};

}  // namespace tspipe::cuda
