#pragma once
// Layers that only move data: Flatten ([N, ...] → [N, rest]) and SelectToken
// ([N, T, D] → [N, D], token `index`; ViT's class-token readout).
#include <tspipe/cpu/backend.hpp>

namespace tspipe::cpu {

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

}  // namespace tspipe::cpu
