#pragma once
// Multi-head self-attention over [N, T, D] (timm's Attention: qkv Linear → per-head
// softmax(Q·Kᵀ/√hd)·V → proj Linear). Q, K, V are rearranged to [N·H, T, hd] so every attention
// GEMM is one strided-batched cuBLAS call over all samples and heads; softmax is a warp per row.
// The forward saves the rearranged Q/K/V and the probabilities. Parameters "qkv.*", "proj.*".
#include <tspipe/cuda/layers/linear.hpp>

namespace tspipe::cuda {

class SelfAttention final : public Layer {
 public:
  SelfAttention(int64_t dim, int64_t heads, uint64_t seed, std::string label = "");

  std::string kind() const override { return "SelfAttention"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
  Tensor backward_input(Context& ctx, const Tensor& dy) override;
  void backward_weight(Context& ctx, const Tensor& dy) override;
  std::vector<Parameter> parameters() override;
  void set_training(bool training) override {
    training_ = training;
    qkv.set_training(training);
    proj.set_training(training);
  }

  Linear qkv, proj;

 private:
  std::string who() const { return detail::describe(kind(), label_); }
  void check(const Tensor& x) const;
  /// qkv_out [N, T, 3D] → attended [N, T, D]; fills heads [3, N·H, T, hd] and probs [N·H, T, T].
  Tensor attend(const Tensor& qkv_out, Tensor& heads, Tensor& probs) const;
  Tensor attend_backward(const Tensor& heads, const Tensor& probs, const Tensor& d_attended, int64_t n,
                         int64_t t) const;
  int64_t dim_, heads_;
  std::string label_;
};

}  // namespace tspipe::cuda
