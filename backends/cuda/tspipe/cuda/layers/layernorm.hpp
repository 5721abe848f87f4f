#pragma once
// LayerNorm over the last axis: y = (x − mean)·rstd·γ + β (a warp per row). Parameters "weight",
// "bias"; the forward saves x and per-row (mean, rstd).
#include <tspipe/cuda/backend.hpp>

namespace tspipe::cuda {

class LayerNorm final : public Layer {
 public:
  LayerNorm(int64_t features, std::string label = "", float eps = 1e-6f);
  std::string kind() const override { return "LayerNorm"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
  std::vector<Parameter> parameters() override;

  Tensor weight, weight_grad, bias, bias_grad;

 private:
  std::string who() const { return detail::describe(kind(), label_); }
  Tensor run(const Tensor& x, Tensor* stats);
  int64_t features_;
  std::string label_;
  float eps_;
};

}  // namespace tspipe::cuda
