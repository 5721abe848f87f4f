#pragma once
// Dropout with cpu::Dropout's masks: the mask of call k is drawn on the host from the same
// splitmix64 stream (seed, k) and uploaded, so both backends drop the same elements — what the
// whole-model comparisons need. Identity in eval mode or with p = 0.
#include <tspipe/cuda/backend.hpp>

namespace tspipe::cuda {

class Dropout final : public Layer {
 public:
  Dropout(float p, uint64_t seed, std::string label = "");
  std::string kind() const override { return "Dropout"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

  uint64_t calls() const noexcept { return calls_; }
  void set_calls(uint64_t calls) noexcept { calls_ = calls; }

 private:
  Tensor mask(const nn::Shape& shape);
  float p_;
  uint64_t seed_, calls_ = 0;
  std::string label_;
};

}  // namespace tspipe::cuda
