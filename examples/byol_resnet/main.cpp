// byol_resnet: BYOL on Fashion-MNIST (or --dataset; STL-10: its unlabeled split, probed on the
// labeled one) through a tspipe Pipeline.
//
// Student (online network) = ResNet backbone + projector + predictor; teacher (target network) =
// backbone + projector built with the same names and seed, updated as ξ ← τ·ξ + (1−τ)·θ with τ
// cosine from --tau0 (0.996) to 1, read with staleness δ (--staleness 1 is TSPipe). Loss: BYOL's
// symmetric 2 − 2·cos. After each epoch: a linear probe and the kNN monitor on the frozen backbone
// features.
#include "momentum_example.hpp"

#include <tspipe/nn/models/resnet.hpp>

#include <cstdio>

using namespace tspipe;
using namespace tspipe::examples;

namespace {

struct ByolRecipe {
  int depth = 18;

  void add_backbone_flags(Flags& flags) {
    flags.add("depth", &depth,
              "ResNet depth: 18, 34, 50, 101, 152, or 6n+2 (8, 14, 20, ...) for the compact 3-stage ResNet with a "
              "pooled stem");
  }
  void add_loss_flags(Flags& /*flags*/) {}
  void check(const CommonOptions& o) const {
    if (!is_compact_resnet_depth(depth)) {
      try {
        nn::models::resnet_layout(depth);
      } catch (const Error& e) {
        throw UsageError(std::string("--depth: ") + e.what());
      }
    }
    check_model_size("--depth " + std::to_string(depth) + " --width " + brief(o.width), "the backbone", backbone_parameters(o), o);
  }
  void describe(const CommonOptions& o, const MomentumOptions& m, const Datasets& data) const {
    const auto& train = data.unlabeled ? data.unlabeled : data.train;
    std::printf("byol_resnet: backend %s, %s, %ld %strain / %ld test images, ResNet-%d×%.3g, δ = %d, K = %d, τ₀ = %.4g, %s\n",
                o.backend.c_str(), dataset_title(o.dataset).c_str(), static_cast<long>(train->size()), data.unlabeled ? "unlabeled " : "",
                static_cast<long>(data.test->size()), depth, o.width, o.staleness, o.warmup, m.tau0,
                pipeline_shape(o).c_str());
  }
  template <class B>
  Blocks<B> backbone(const CommonOptions& o, std::uint64_t seed) const {
    return image_resnet<B>(image_geometry(o), depth, o.width, 0, seed);
  }
  int64_t feature_size(const CommonOptions& o) const {
    if (is_compact_resnet_depth(depth)) return nn::models::detail::scaled_channels(256, o.width);  // 3 basic stages
    return nn::models::detail::scaled_channels(512, o.width) * (nn::models::resnet_layout(depth).bottleneck ? 4 : 1);
  }
  double backbone_parameters(const CommonOptions& o) const { return resnet_parameters(image_geometry(o), depth, o.width, 0); }
  template <class B>
  std::shared_ptr<const typename Pipeline<B>::Loss> loss() const {
    return std::make_shared<typename BackendKit<B>::ByolLoss>();
  }
};

}  // namespace

int main(int argc, char** argv) {
  // BYOL's recipe (docs/ssl-recipes.md): LARS, base learning rate 0.2 per 256 images, weight decay
  // 1.5e-6, τ₀ 0.996; a 1-epoch warm-up stands for its 10 of 1000 epochs.
  const MomentumExample byol{
      .program = "byol_resnet", .phase = "byol", .seed_salt = 3, .projector_layers = 2,
      .heads_end_in_batch_norm = false,
      .common = {.learning_rate = 0.2, .weight_decay = 1.5e-6, .lr_warmup_epochs = 1, .out = "out/byol_resnet", .width = 0.25},
      .momentum = {.tau0 = 0.996, .optimizer = "lars"}, .optimizer_help = "lars (BYOL's recipe) | sgd | adamw",
      .summary = "BYOL (momentum teacher, two views) on Fashion-MNIST (or --dataset) through a tspipe Pipeline;\n"
                 "reports the linear-probe test accuracy of the frozen backbone."};
  return run_momentum_example(argc, argv, byol, ByolRecipe{});
}
