// mocov3_vit: MoCo-v3 with a small ViT on Fashion-MNIST through a tspipe Pipeline.
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
  int depth = 4, heads = 4, patch = 7;
  double temperature = 0.2;

  void add_backbone_flags(Flags& flags) {
    flags.add("vit-depth", &depth, "transformer blocks");
    flags.add("vit-heads", &heads, "attention heads (the width is --width × 192, rounded to a multiple of it)");
    flags.add("patch", &patch, "patch size (a divisor of 28: 4, 7, 14)");
  }
  void add_loss_flags(Flags& flags) { flags.add("temperature", &temperature, "InfoNCE temperature T"); }
  void check(const CommonOptions& o) const {
    if (heads < 1 || depth < 1) throw UsageError("--vit-heads/--vit-depth: must be positive");
    if (patch < 1 || 28 % patch != 0) throw UsageError("--patch " + std::to_string(patch) + ": must divide 28");
    if (!(temperature > 0.0)) throw UsageError("--temperature " + std::to_string(temperature) + ": must be positive");
    check_model_size("--vit-depth " + std::to_string(depth) + " --vit-heads " + std::to_string(heads) + " --width " + brief(o.width),
                     "the ViT", backbone_parameters(o), o);
  }
  /// The token width: --width of ViT-Tiny's 192, rounded to a multiple of the heads.
  int64_t feature_size(const CommonOptions& o) const {
    return std::max<int64_t>(1, std::lround(192.0 * o.width / heads)) * heads;
  }
  void describe(const CommonOptions& o, const MomentumOptions& m, const Datasets& data) const {
    std::printf("mocov3_vit: backend %s, %d train / %d test images, ViT dim %ld depth %d heads %d patch %d, δ = %d, K = %d, "
                "τ₀ = %.4g, T = %.3g, %d stages, %d micro-batches, schedule %s\n",
                o.backend.c_str(), data.train->count, data.test->count, static_cast<long>(feature_size(o)), depth, heads,
                patch, o.staleness, o.warmup, m.tau0, temperature, o.stages, o.micro_batches, o.schedule.c_str());
  }
  template <class B>
  Blocks<B> backbone(const CommonOptions& o, std::uint64_t seed) const {
    nn::models::ViTConfig c;
    c.image_size = 28;
    c.patch = patch;
    c.in_channels = 1;
    c.dim = feature_size(o);
    c.depth = depth;
    c.heads = heads;
    c.seed = seed;
    return nn::models::vit<B>(c);
  }
  double backbone_parameters(const CommonOptions& o) const { return vit_parameters(feature_size(o), depth, patch, 28, 1); }
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
      .heads_end_in_batch_norm = true, .out = "out/mocov3_vit", .width = 1.0 / 3.0, .learning_rate = 1.5e-4,
      .weight_decay = 0.1, .tau0 = 0.99, .lr_warmup_epochs = 1, .optimizer = "adamw",
      .optimizer_help = "adamw (MoCo-v3's for ViTs) | sgd | lars",
      .summary = "MoCo-v3 (momentum teacher, InfoNCE, two views) with a small ViT on Fashion-MNIST through a tspipe\n"
                 "Pipeline; reports the linear-probe test accuracy of the frozen backbone."};
  return run_momentum_example(argc, argv, moco, MocoRecipe{});
}
