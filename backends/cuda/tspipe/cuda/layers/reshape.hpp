#pragma once
// Flatten [N, ...] → [N, rest] (no copy) and SelectToken [N, T, D] → [N, D] (the class token).
#include <tspipe/cuda/backend.hpp>

namespace tspipe::cuda {

class Flatten final : public Layer {
 public:
  std::string kind() const override { return "Flatten"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
};

class SelectToken final : public Layer {
 public:
  explicit SelectToken(int64_t index) : index_(index) {}
  std::string kind() const override { return "SelectToken"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

 private:
  void check(const Tensor& x) const;
  int64_t index_;
};

}  // namespace tspipe::cuda
