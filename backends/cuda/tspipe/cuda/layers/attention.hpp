#pragma once
// Multi-head self-attention over [N, T, D] (timm's Attention: qkv Linear → per-head
// softmax(Q·Kᵀ/√hd)·V → proj Linear). Q, K, V are rearranged to [N·H, T, hd] so every attention
// GEMM is one strided-batched cuBLAS call over all samples and heads; softmax is a warp per row.
// The forward saves the rearranged Q/K/V and the probabilities. Parameters "qkv.*", "proj.*".
// Checks, messages, parameters and the split backward are nn::shells::SelfAttentionShell's.
#include <tspipe/cuda/layers/linear.hpp>
#include <tspipe/nn/layer_shells/attention.hpp>

namespace tspipe::cuda {

class SelfAttention final : public nn::shells::SelfAttentionShell<Backend, SelfAttention, Linear> {
 public:
  SelfAttention(int64_t dim, int64_t heads, uint64_t seed, std::string label = "")
      : SelfAttentionShell(dim, heads, seed, std::move(label)) {}

 private:
  friend class nn::shells::SelfAttentionShell<Backend, SelfAttention, Linear>;
  static constexpr size_t saved_tensors = 3;  // heads, probs, x
  Tensor core_infer(const Tensor& qkv_out) const {
    Tensor heads, probs;
    return attend(qkv_out, heads, probs);
  }
  Tensor core_forward(const Tensor& x, const Tensor& qkv_out, std::vector<Tensor>& saved) const;
  Tensor core_backward(const std::vector<Tensor>& saved, const Tensor& d_attended) const {
    return attend_backward(saved[0], saved[1], d_attended, saved[2].size(0), saved[2].size(1));
  }
  /// qkv_out [N, T, 3D] → attended [N, T, D]; fills heads [3, N·H, T, hd] and probs [N·H, T, T].
  Tensor attend(const Tensor& qkv_out, Tensor& heads, Tensor& probs) const;
  Tensor attend_backward(const Tensor& heads, const Tensor& probs, const Tensor& d_attended, int64_t n,
                         int64_t t) const;
};

}  // namespace tspipe::cuda
