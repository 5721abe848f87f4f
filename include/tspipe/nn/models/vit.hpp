#pragma once
// Vision Transformer (Dosovitskiy et al.; timm's pre-norm layout), generic over the Backend, as a
// flat block list: [patch_embed, blocks.0, …, blocks.(depth−1), head].
//   patch_embed  patches → tokens, class token, position embedding
//   blocks.i     x += attn(norm1(x)); x += mlp(norm2(x))   (mlp = fc1, GELU, fc2)
//   head         class token → final LayerNorm "norm" (→ Linear "head" when num_classes > 0)
// Output: [N, dim] (the class token after the final LayerNorm) or [N, num_classes].
// Parameter names follow timm ("blocks.3.attn.qkv.weight", "norm.bias"), with the embedding's
// under "patch_embed." ("patch_embed.cls_token", "patch_embed.pos_embed", "patch_embed.proj.weight").
#include <tspipe/error.hpp>
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/options.hpp>

#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::nn::models {

struct ViTConfig {
  int64_t image_size = 224, patch = 16, in_channels = 3;
  int64_t dim = 768, depth = 12, heads = 12;
  double mlp_ratio = 4.0;
  int64_t num_classes = 0;  // 0: output the normalised class token
  float dropout = 0.0f;     // after each MLP layer (seeded; identity in eval mode)
  uint64_t seed = 0;
};

/// "vit_tiny" (192, 12 blocks, 3 heads), "vit_small" (384, 12, 6), "vit_base" (768, 12, 12),
/// "vit_large" (1024, 24, 16), for the given image and patch size.
inline ViTConfig vit_preset(std::string_view name, int64_t image_size = 224, int64_t patch = 16,
                            int64_t num_classes = 0, uint64_t seed = 0) {
  ViTConfig c;
  c.image_size = image_size;
  c.patch = patch;
  c.num_classes = num_classes;
  c.seed = seed;
  if (name == "vit_tiny") { c.dim = 192; c.depth = 12; c.heads = 3; }
  else if (name == "vit_small") { c.dim = 384; c.depth = 12; c.heads = 6; }
  else if (name == "vit_base") { c.dim = 768; c.depth = 12; c.heads = 12; }
  else if (name == "vit_large") { c.dim = 1024; c.depth = 24; c.heads = 16; }
  else throw Error("ViT: unknown preset '" + std::string(name) + "'; expected vit_tiny, vit_small, vit_base or vit_large");
  return c;
}

template <class B>
std::vector<LayerPtr<B>> vit(const ViTConfig& c) {
  if (c.dim <= 0 || c.depth <= 0 || c.heads <= 0 || c.dim % c.heads != 0)
    throw Error("ViT: dim " + std::to_string(c.dim) + " must be a positive multiple of heads " +
                std::to_string(c.heads) + " and depth " + std::to_string(c.depth) + " positive");
  if (c.patch <= 0 || c.image_size <= 0 || c.image_size % c.patch != 0)
    throw Error("ViT: image size " + std::to_string(c.image_size) + " is not a positive multiple of patch " +
                std::to_string(c.patch));
  if (!(c.mlp_ratio > 0.0)) throw Error("ViT: mlp_ratio must be positive, got " + std::to_string(c.mlp_ratio));
  if (c.num_classes < 0) throw Error("ViT: num_classes must be >= 0, got " + std::to_string(c.num_classes));

  SeedSequence seeds(c.seed);
  const int64_t hidden = static_cast<int64_t>(std::lround(static_cast<double>(c.dim) * c.mlp_ratio));
  std::vector<LayerPtr<B>> blocks;
  blocks.push_back(named<B>("patch_embed",
                            B::patch_embed(PatchEmbedOptions{c.in_channels, c.image_size, c.patch, c.dim, true},
                                           seeds.next(), "patch_embed")));
  for (int64_t i = 0; i < c.depth; ++i) {
    const std::string name = "blocks." + std::to_string(i);
    auto attn_branch = std::make_unique<Sequential<B>>();
    attn_branch->add("norm1", B::layer_norm(c.dim, name + ".norm1"));
    attn_branch->add("attn", B::self_attention(c.dim, c.heads, seeds.next(), name + ".attn"));

    auto mlp = std::make_unique<Sequential<B>>();
    mlp->add("fc1", B::linear(c.dim, hidden, true, seeds.next(), name + ".mlp.fc1"));
    mlp->add("act", B::gelu());
    if (c.dropout > 0.0f) mlp->add("drop1", B::dropout(c.dropout, seeds.next(), name + ".mlp.drop1"));
    mlp->add("fc2", B::linear(hidden, c.dim, true, seeds.next(), name + ".mlp.fc2"));
    if (c.dropout > 0.0f) mlp->add("drop2", B::dropout(c.dropout, seeds.next(), name + ".mlp.drop2"));
    auto mlp_branch = std::make_unique<Sequential<B>>();
    mlp_branch->add("norm2", B::layer_norm(c.dim, name + ".norm2"));
    mlp_branch->add("mlp", std::move(mlp));

    auto block = std::make_unique<Sequential<B>>();
    block->add("", std::make_unique<Residual<B>>(std::move(attn_branch)));
    block->add("", std::make_unique<Residual<B>>(std::move(mlp_branch)));
    blocks.push_back(named<B>(name, std::move(block)));
  }
  auto head = std::make_unique<Sequential<B>>();
  head->add("cls", B::select_token(0));
  head->add("norm", B::layer_norm(c.dim, "norm"));
  if (c.num_classes > 0) head->add("head", B::linear(c.dim, c.num_classes, true, seeds.next(), "head"));
  blocks.push_back(std::move(head));
  return blocks;
}

}  // namespace tspipe::nn::models
