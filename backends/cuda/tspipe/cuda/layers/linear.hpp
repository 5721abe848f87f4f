#pragma once
// Linear: y = x·Wᵀ + b over the last axis (cuBLAS). Same layout, initialisation and names as
// cpu::Linear; real split backward (input grad and weight grad are separate GEMMs).
#include <tspipe/cuda/backend.hpp>

namespace tspipe::cuda {

class Linear final : public Layer {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed, std::string label = "");

  std::string kind() const override { return "Linear"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
  Tensor backward_input(Context& ctx, const Tensor& dy) override;
  void backward_weight(Context& ctx, const Tensor& dy) override;
  std::vector<Parameter> parameters() override;

  int64_t in_features() const noexcept { return in_; }
  int64_t out_features() const noexcept { return out_; }
  Tensor weight, weight_grad, bias, bias_grad;

 private:
  std::string who() const { return detail::describe(kind(), label_); }
  void check(const Tensor& x) const;
  int64_t in_, out_;
  std::string label_;
};

}  // namespace tspipe::cuda
