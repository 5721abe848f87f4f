#pragma once
// Multi-head self-attention on tokens [N, T, D] (ViT / timm layout):
//   qkv = x·W_qkvᵀ + b  ([N, T, 3D]; q, k, v each split into H heads of D/H)
//   P_h = softmax(Q_h·K_hᵀ / √(D/H)),  O_h = P_h·V_h,  y = concat_h(O_h)·W_projᵀ + b_proj
// The per-head GEMMs read q, k, v straight out of the qkv buffer through row strides (no copies).
// Parameters: "qkv.weight" [3D, D], "qkv.bias", "proj.weight" [D, D], "proj.bias". Checks, messages,
// parameters and the split backward are nn::shells::SelfAttentionShell's; this is the core.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/cpu/layers/linear.hpp>
#include <tspipe/nn/layer_shells/attention.hpp>

namespace tspipe::cpu {

class SelfAttention final : public nn::shells::SelfAttentionShell<Backend, SelfAttention, Linear> {
 public:
  SelfAttention(int64_t dim, int64_t heads, uint64_t seed, std::string label = "")
      : SelfAttentionShell(dim, heads, seed, std::move(label)) {}

 private:
  friend class nn::shells::SelfAttentionShell<Backend, SelfAttention, Linear>;
  static constexpr size_t saved_tensors = 2;  // qkv_out, probs
  Tensor core_infer(const Tensor& qkv_out) const { return attend(qkv_out, nullptr); }
  Tensor core_forward(const Tensor& x, const Tensor& qkv_out, std::vector<Tensor>& saved) const;
  Tensor core_backward(const std::vector<Tensor>& saved, const Tensor& d_attended) const {
    return attend_backward(saved[0], saved[1], d_attended);
  }
  /// Attention core on qkv [N, T, 3D] → [N, T, D]; writes the probabilities when probs != nullptr.
  Tensor attend(const Tensor& qkv_out, Tensor* probs) const;
  /// Backward of the core: d(attention output) → d(qkv).
  Tensor attend_backward(const Tensor& qkv_out, const Tensor& probs, const Tensor& d_out) const;
};

}  // namespace tspipe::cpu
