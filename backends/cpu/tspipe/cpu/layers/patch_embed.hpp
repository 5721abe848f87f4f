#pragma once
// ViT patch embedding: [N, C, H, W] → tokens [N, 1 + (H/p)·(W/p), D].
// Non-overlapping p×p patches are gathered into rows [N·T, C·p·p] (ordered c, ki, kj, matching a
// conv weight [D, C, p, p]) and projected with one GEMM; the class token is prepended and the
// position embedding added. Parameters "proj.weight" [D, C, p, p], "proj.bias", "cls_token"
// [1, 1, D], "pos_embed" [1, T(+1), D] — timm's names, so weights load by name.
#include <tspipe/cpu/backend.hpp>

namespace tspipe::cpu {

class PatchEmbed final : public Layer {
 public:
  /// proj like a conv (U(±1/√(C·p·p))); class token and position embedding ~ N(0, 0.02²).
  PatchEmbed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label = "");

  std::string kind() const override { return "PatchEmbed"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
  std::vector<Parameter> parameters() override;

  int64_t tokens() const noexcept;  // T, including the class token
  Tensor weight, weight_grad, bias, bias_grad, cls_token, cls_token_grad, pos_embed, pos_embed_grad;

 private:
  std::string who() const { return detail::describe(kind(), label_); }
  Tensor gather_patches(const Tensor& x) const;  // checks x; [N·P, C·p·p]
  Tensor embed(const Tensor& patches, int64_t batch) const;
  nn::PatchEmbedOptions opt_;
  std::string label_;
};

}  // namespace tspipe::cpu
