#pragma once
// Dropout with a reproducible mask: element i of the k-th training call keeps its value (scaled by
// 1/(1−p)) unless hash(seed, k, i) < p. The same seed and call count give the same mask on any
// machine, so pipelined and sequential runs can be compared bit for bit. Identity in eval mode.
#include <tspipe/cpu/backend.hpp>

namespace tspipe::cpu {

class Dropout final : public Layer {
 public:
  Dropout(float p, uint64_t seed, std::string label = "");

  std::string kind() const override { return "Dropout"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

  uint64_t calls() const noexcept { return calls_; }
  void set_calls(uint64_t calls) noexcept { calls_ = calls; }  // e.g. restored from a checkpoint

 private:
  Tensor mask(const nn::Shape& shape);  // the scaled keep-mask of the next call
  float p_;
  uint64_t seed_, calls_ = 0;
  std::string label_;
};

}  // namespace tspipe::cpu
