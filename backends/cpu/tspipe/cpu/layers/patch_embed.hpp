#pragma once
// ViT patch embedding: [N, C, H, W] → tokens [N, 1 + (H/p)·(W/p), D].
// Non-overlapping p×p patches are gathered into rows [N·T, C·p·p] (ordered c, ki, kj, matching a
// conv weight [D, C, p, p]) and projected with one GEMM; the class token is prepended and the
// position embedding added. Parameters "proj.weight" [D, C, p, p], "proj.bias", "cls_token"
// [1, 1, D], "pos_embed" [1, T(+1), D] — timm's names, so weights load by name. Checks, messages,
// parameters and their initialisation are nn::shells::PatchEmbedShell's; this is the compute.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer_shells/patch_embed.hpp>

namespace tspipe::cpu {

class PatchEmbed final : public nn::shells::PatchEmbedShell<Backend, PatchEmbed> {
 public:
  PatchEmbed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label = "");

 private:
  friend class nn::shells::PatchEmbedShell<Backend, PatchEmbed>;
  Tensor gather_patches(const Tensor& x) const;  // [N·P, C·p·p]
  Tensor embed(const Tensor& patches, int64_t batch) const;
  Tensor backward_patches(const Tensor& x, const Tensor& patches, const Tensor& dy);
};

}  // namespace tspipe::cpu
