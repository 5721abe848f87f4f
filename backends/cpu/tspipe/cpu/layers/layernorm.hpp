#pragma once
// LayerNorm over the last axis: [..., D] with learned γ ("weight") and β ("bias").
#include <tspipe/cpu/backend.hpp>

namespace tspipe::cpu {

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
  Tensor run(const Tensor& x, Tensor* stats);  // stats [rows, 2] = (mean, rstd) when non-null
  int64_t features_;
  std::string label_;
  float eps_;
};

}  // namespace tspipe::cpu
