// byol_resnet: BYOL on Fashion-MNIST through a tspipe Pipeline.
//
// Student (online network) = ResNet backbone + projector + predictor; teacher (target network) =
// backbone + projector built with the same names and seed, updated as ξ ← τ·ξ + (1−τ)·θ with τ
// cosine from --tau0 (0.996) to 1, read with staleness δ (--staleness 1 is TSPipe). Loss: BYOL's
// symmetric 2 − 2·cos. After each epoch: a linear probe on the frozen backbone features.
#include "training.hpp"

#include <tspipe/nn/models/heads.hpp>
#include <tspipe/nn/models/resnet.hpp>

using namespace tspipe;
using namespace tspipe::examples;

namespace {

struct ByolOptions {
  int depth = 18;
  int projection_dim = 64, hidden_dim = 256;
  double tau0 = 0.996;
  std::string optimizer = "sgd";
};

/// Backbone + projector (+ predictor when `with_predictor`): the same seed gives the teacher the
/// student's initial weights and names.
template <class B>
Blocks<B> byol_network(const ByolOptions& b, double width, std::uint64_t seed, bool with_predictor, int* backbone_blocks) {
  Blocks<B> blocks = fashion_resnet<B>(b.depth, width, 0, seed);
  *backbone_blocks = static_cast<int>(blocks.size());
  const int64_t features = nn::models::detail::scaled_channels(512, width) * (nn::models::resnet_layout(b.depth).bottleneck ? 4 : 1);
  blocks.push_back(nn::models::mlp_head<B>({"projector", features, b.hidden_dim, b.projection_dim, 2, seed + 1}));
  if (with_predictor)
    blocks.push_back(nn::models::mlp_head<B>({"predictor", b.projection_dim, b.hidden_dim, b.projection_dim, 2, seed + 2}));
  return blocks;
}

int run(int argc, char** argv) {
  CommonOptions o;
  o.out = "out/byol_resnet";
  o.width = 0.25;
  o.learning_rate = 0.05;
  o.weight_decay = 1e-4;
  ByolOptions b;
  Flags flags("byol_resnet", "BYOL (momentum teacher, two views) on Fashion-MNIST through a tspipe Pipeline;\n"
                             "reports the linear-probe test accuracy of the frozen backbone.");
  add_common_flags(flags, o);
  flags.add("depth", &b.depth, "ResNet depth (18, 34, 50, ...)");
  flags.add("projection-dim", &b.projection_dim, "projector/predictor output size");
  flags.add("hidden-dim", &b.hidden_dim, "projector/predictor hidden size");
  flags.add("tau0", &b.tau0, "initial EMA momentum τ₀ (cosine to 1 over the run)");
  flags.add("optimizer", &b.optimizer, "sgd | lars (BYOL's recipe) | adamw");
  flags.add("probe-epochs", &o.probe_epochs, "epochs of the linear probe's classifier");
  if (!flags.parse(argc, argv)) return 0;
  check_common_options(o);
  if (b.projection_dim < 1 || b.hidden_dim < 1)
    throw UsageError("--projection-dim/--hidden-dim " + std::to_string(b.projection_dim) + "/" + std::to_string(b.hidden_dim) +
                     ": must be positive");
  optimizer_factory<cpu::Backend>(b.optimizer, o);  // rejects an unknown name before any data is read
  try {
    nn::models::resnet_layout(b.depth);
  } catch (const Error& e) {
    throw UsageError(std::string("--depth: ") + e.what());
  }

  o.backend = resolve_backend(o.backend);  // once: auto becomes cpu or cuda for everything after
  return with_backend(o.backend, [&]<class B>() {
    const Datasets data = load_datasets(o);
    std::printf("byol_resnet: backend %s, %d train / %d test images, ResNet-%d×%.3g, δ = %d, K = %d, τ₀ = %.4g, %d stages, "
                "%d micro-batches, schedule %s\n",
                o.backend.c_str(), data.train->count, data.test->count, b.depth, o.width, o.staleness, o.warmup,
                b.tau0, o.stages, o.micro_batches, o.schedule.c_str());
    const auto seed = static_cast<std::uint64_t>(o.seed) * 1000 + 3;
    int backbone_blocks = 0;
    Blocks<B> teacher = byol_network<B>(b, o.width, seed, false, &backbone_blocks);
    Blocks<B> student = byol_network<B>(b, o.width, seed, true, &backbone_blocks);
    return run_self_supervised<B>("byol_resnet",
                                  momentum_phase<B>("byol", std::move(teacher), std::move(student),
                                                    std::make_shared<typename BackendKit<B>::ByolLoss>(),
                                                    optimizer_factory<B>(b.optimizer, o), b.tau0, backbone_blocks, o),
                                  o, data);
  });
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("byol_resnet", [&] { return run(argc, argv); });
}
