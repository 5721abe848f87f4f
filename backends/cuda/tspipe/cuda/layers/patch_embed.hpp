#pragma once
// ViT patch embedding [N, C, S, S] → [N, 1 + (S/p)², D]: gather patches (a kernel), project them
// with one GEMM, add bias, prepend the class token, add the position embedding (one kernel).
// Same parameters, names and initialisation as cpu::PatchEmbed (nn::shells::PatchEmbedShell).
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/patch_embed.hpp>

namespace tspipe::cuda {

class PatchEmbed final : public nn::shells::PatchEmbedShell<Backend, PatchEmbed> {
 public:
  PatchEmbed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label = "");

 private:
  friend class nn::shells::PatchEmbedShell<Backend, PatchEmbed>;
  Tensor gather_patches(const Tensor& x) const;  // [N·P, C·p·p]
  Tensor embed(const Tensor& patches, int64_t batch) const;
  Tensor backward_patches(const Tensor& x, const Tensor& patches, const Tensor& dy);
};

}  // namespace tspipe::cuda
