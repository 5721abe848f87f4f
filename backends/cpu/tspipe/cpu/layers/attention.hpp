#pragma once
// Multi-head self-attention on tokens [N, T, D] (ViT / timm layout):
//   qkv = x·W_qkvᵀ + b  ([N, T, 3D]; q, k, v each split into H heads of D/H)
//   P_h = softmax(Q_h·K_hᵀ / √(D/H)),  O_h = P_h·V_h,  y = concat_h(O_h)·W_projᵀ + b_proj
// The per-head GEMMs read q, k, v straight out of the qkv buffer through row strides (no copies).
// Parameters: "qkv.weight" [3D, D], "qkv.bias", "proj.weight" [D, D], "proj.bias".
#include <tspipe/cpu/backend.hpp>
#include <tspipe/cpu/layers/linear.hpp>

namespace tspipe::cpu {

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

  Linear qkv, proj;

 private:
  std::string who() const { return detail::describe(kind(), label_); }
  void check(const Tensor& x) const;
  /// Attention core on qkv [N, T, 3D] → [N, T, D]; writes the probabilities when probs != nullptr.
  Tensor attend(const Tensor& qkv_out, Tensor* probs) const;
  /// Backward of the core: d(attention output) → d(qkv).
  Tensor attend_backward(const Tensor& qkv_out, const Tensor& probs, const Tensor& d_out) const;
  int64_t dim_, heads_;
  std::string label_;
};

}  // namespace tspipe::cpu
