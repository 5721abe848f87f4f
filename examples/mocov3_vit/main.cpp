// mocov3_vit: MoCo-v3 with a small ViT on Fashion-MNIST (or --dataset, e.g. CIFAR-10 at 32×32)
// through a tspipe Pipeline.
//
// Student = ViT + 3-layer projector + 2-layer predictor, both ending in BatchNorm without affine
// parameters as in MoCo-v3's ViT code; momentum teacher = ViT + projector with the same names and
// seed, τ cosine from --tau0 (0.99) to 1, read with staleness δ. Loss: the symmetric InfoNCE 2T·CE(q̂·k̂ᵀ/T, arange(N)) over
// the whole batch (every other sample is a negative). After each epoch: a linear probe and the kNN
// monitor on the frozen class-token features.
#include "momentum_example.hpp"

#include <tspipe/nn/models/vit.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>

using namespace tspipe;
using namespace tspipe::examples;

namespace {

struct MocoRecipe {
  int depth = 4, heads = 4, patch = 0;  // patch 0: patch_for(side)
  double temperature = 0.2;

  void add_backbone_flags(Flags& flags) {
    flags.add("vit-depth", &depth, "transformer blocks");
    flags.add("vit-heads", &heads, "attention heads (the width is --width × 192, rounded to a multiple of it)");
    flags.add("patch", &patch, "patch size, a divisor of the image side (0: 7 for 28-pixel images, else side / 8: 4 on CIFAR)");
  }
  void add_loss_flags(Flags& flags) { flags.add("temperature", &temperature, "InfoNCE temperature T"); }
  void check(const CommonOptions& o) const {
    if (heads < 1 || depth < 1) throw UsageError("--vit-heads/--vit-depth: must be positive");
    const int side = image_geometry(o).side;
    if (patch < 0 || (patch > 0 && side % patch != 0))
      throw UsageError("--patch " + std::to_string(patch) + ": must divide the image side " + std::to_string(side));
    if (patch_for(side) == 0) throw UsageError("--patch: give one that divides the image side " + std::to_string(side));
    if (!(temperature > 0.0)) throw UsageError("--temperature " + std::to_string(temperature) + ": must be positive");
    check_model_size("--vit-depth " + std::to_string(depth) + " --vit-heads " + std::to_string(heads) + " --width " + brief(o.width),
                     "the ViT", backbone_parameters(o), o);
  }
  /// The patch size: --patch, or 7 on 28-pixel images (16 tokens), side / 8 where that divides
  /// (64 tokens: 4 on CIFAR's 32, 12 on STL-10's 96); 0 where neither does.
  int patch_for(int side) const {
    if (patch > 0) return patch;
    if (side == 28) return 7;
    return side % 8 == 0 ? side / 8 : 0;
  }
  /// The token width: --width of ViT-Tiny's 192, rounded to a multiple of the heads.
  int64_t feature_size(const CommonOptions& o) const {
    return std::max<int64_t>(1, std::lround(192.0 * o.width / heads)) * heads;
  }
  void describe(const CommonOptions& o, const MomentumOptions& m, const Datasets& data) const {
    const auto& train = data.unlabeled ? data.unlabeled : data.train;
    std::printf("mocov3_vit: backend %s, %s, %ld %strain / %ld test images, ViT dim %ld depth %d heads %d patch %d, δ = %d, "
                "K = %d, τ₀ = %.4g, T = %.3g, %s\n",
                o.backend.c_str(), dataset_title(o.dataset).c_str(), static_cast<long>(train->size()), data.unlabeled ? "unlabeled " : "",
                static_cast<long>(data.test->size()), static_cast<long>(feature_size(o)), depth, heads, patch_for(data.geometry.side),
                o.staleness, o.warmup, m.tau0, temperature, pipeline_shape(o).c_str());
  }
  template <class B>
  Blocks<B> backbone(const CommonOptions& o, std::uint64_t seed) const {
    const ImageGeometry g = image_geometry(o);
    nn::models::ViTConfig c;
    c.image_size = g.side;
    c.patch = patch_for(g.side);
    c.in_channels = g.channels;
    c.dim = feature_size(o);
    c.depth = depth;
    c.heads = heads;
    c.seed = seed;
    return nn::models::vit<B>(c);
  }
  double backbone_parameters(const CommonOptions& o) const {
    const ImageGeometry g = image_geometry(o);
    return vit_parameters(feature_size(o), depth, patch_for(g.side), g.side, g.channels);
  }
  template <class B>
  std::shared_ptr<const typename Pipeline<B>::Loss> loss() const {
    return std::make_shared<typename BackendKit<B>::MocoV3Loss>(static_cast<float>(temperature));
  }
};

}  // namespace

int main(int argc, char** argv) {
  // --width 1/3 of ViT-Tiny's 192: dim 64. MoCo-v3's ViT recipe (docs/ssl-recipes.md): AdamW, base
  // learning rate 1.5e-4 per 256 images, weight decay 0.1, τ₀ 0.99, heads ending in BatchNorm
  // without affine parameters; a 1-epoch warm-up stands for its 40 of 300 epochs.
  const MomentumExample moco{
      .program = "mocov3_vit", .phase = "mocov3", .seed_salt = 4, .projector_layers = 3,
      .heads_end_in_batch_norm = true,
      .common = {.learning_rate = 1.5e-4, .weight_decay = 0.1, .lr_warmup_epochs = 1, .out = "out/mocov3_vit", .width = 1.0 / 3.0},
      .momentum = {.tau0 = 0.99, .optimizer = "adamw"},
      .optimizer_help = "adamw (MoCo-v3's for ViTs) | sgd | lars",
      .summary = "MoCo-v3 (momentum teacher, InfoNCE, two views) with a small ViT on Fashion-MNIST (or --dataset) through a tspipe\n"
                 "Pipeline; reports the linear-probe test accuracy of the frozen backbone."};
  return run_momentum_example(argc, argv, moco, MocoRecipe{});
}
