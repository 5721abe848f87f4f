#pragma once
// ViT patch embedding [N, C, S, S] → [N, 1 + (S/p)², D]: gather patches (a kernel), project them
// with one GEMM, add bias, prepend the class token, add the position embedding (one kernel).
// Same parameters, names and initialisation as cpu::PatchEmbed.
#include <tspipe/cuda/backend.hpp>

namespace tspipe::cuda {

class PatchEmbed final : public Layer {
 public:
  PatchEmbed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label = "");
  std::string kind() const override { return "PatchEmbed"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
  std::vector<Parameter> parameters() override;

  int64_t tokens() const noexcept;
  Tensor weight, weight_grad, bias, bias_grad, cls_token, cls_token_grad, pos_embed, pos_embed_grad;

 private:
  std::string who() const { return detail::describe(kind(), label_); }
  Tensor gather_patches(const Tensor& x) const;
  Tensor embed(const Tensor& patches, int64_t batch) const;
  nn::PatchEmbedOptions opt_;
  std::string label_;
};

}  // namespace tspipe::cuda
