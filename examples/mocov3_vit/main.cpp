// mocov3_vit: MoCo-v3 with a small ViT on Fashion-MNIST through a tspipe Pipeline.
//
// Student = ViT + 3-layer projector + 2-layer predictor; momentum teacher = ViT + projector with
// the same names and seed, τ cosine from --tau0 (0.99) to 1, read with staleness δ. Loss: the
// symmetric InfoNCE 2T·CE(q̂·k̂ᵀ/T, arange(N)) over the whole batch (every other sample is a
// negative). After each epoch: a linear probe on the frozen class-token features.
#include "training.hpp"

#include <tspipe/nn/models/heads.hpp>
#include <tspipe/nn/models/vit.hpp>

#include <cmath>

using namespace tspipe;
using namespace tspipe::examples;

namespace {

struct MocoOptions {
  int depth = 4, heads = 4, patch = 7;
  int projection_dim = 64, hidden_dim = 256;
  double tau0 = 0.99, temperature = 0.2;
  std::string optimizer = "adamw";
};

template <class B>
Blocks<B> moco_network(const MocoOptions& m, int64_t dim, std::uint64_t seed, bool with_predictor, int* backbone_blocks) {
  nn::models::ViTConfig c;
  c.image_size = 28;
  c.patch = m.patch;
  c.in_channels = 1;
  c.dim = dim;
  c.depth = m.depth;
  c.heads = m.heads;
  c.seed = seed;
  Blocks<B> blocks = nn::models::vit<B>(c);
  *backbone_blocks = static_cast<int>(blocks.size());
  blocks.push_back(nn::models::mlp_head<B>({"projector", dim, m.hidden_dim, m.projection_dim, 3, seed + 1}));
  if (with_predictor)
    blocks.push_back(nn::models::mlp_head<B>({"predictor", m.projection_dim, m.hidden_dim, m.projection_dim, 2, seed + 2}));
  return blocks;
}

int run(int argc, char** argv) {
  CommonOptions o;
  o.out = "out/mocov3_vit";
  o.width = 1.0 / 3.0;  // of ViT-Tiny's 192: dim 64
  o.learning_rate = 1e-3;
  o.weight_decay = 0.05;
  MocoOptions m;
  Flags flags("mocov3_vit", "MoCo-v3 (momentum teacher, InfoNCE, two views) with a small ViT on Fashion-MNIST through a tspipe\n"
                            "Pipeline; reports the linear-probe test accuracy of the frozen backbone.");
  add_common_flags(flags, o);
  flags.add("vit-depth", &m.depth, "transformer blocks");
  flags.add("vit-heads", &m.heads, "attention heads (the width is --width × 192, rounded to a multiple of it)");
  flags.add("patch", &m.patch, "patch size (a divisor of 28: 4, 7, 14)");
  flags.add("projection-dim", &m.projection_dim, "projector/predictor output size");
  flags.add("hidden-dim", &m.hidden_dim, "projector/predictor hidden size");
  flags.add("tau0", &m.tau0, "initial EMA momentum τ₀ (cosine to 1 over the run)");
  flags.add("temperature", &m.temperature, "InfoNCE temperature T");
  flags.add("optimizer", &m.optimizer, "adamw (MoCo-v3's for ViTs) | sgd | lars");
  flags.add("probe-epochs", &o.probe_epochs, "epochs of the linear probe's classifier");
  if (!flags.parse(argc, argv)) return 0;
  check_common_options(o);
  if (m.heads < 1 || m.depth < 1) throw UsageError("--vit-heads/--vit-depth: must be positive");
  if (m.patch < 1 || 28 % m.patch != 0) throw UsageError("--patch " + std::to_string(m.patch) + ": must divide 28");
  if (!(m.temperature > 0.0)) throw UsageError("--temperature " + std::to_string(m.temperature) + ": must be positive");
  if (m.projection_dim < 1 || m.hidden_dim < 1) throw UsageError("--projection-dim/--hidden-dim: must be positive");
  optimizer_factory<cpu::Backend>(m.optimizer, o);  // rejects an unknown name before any data is read
  const int64_t dim = std::max<int64_t>(1, std::lround(192.0 * o.width / m.heads)) * m.heads;

  o.backend = resolve_backend(o.backend);  // once: auto becomes cpu or cuda for everything after
  return with_backend(o.backend, [&]<class B>() {
    const Datasets data = load_datasets(o);
    std::printf("mocov3_vit: backend %s, %d train / %d test images, ViT dim %ld depth %d heads %d patch %d, δ = %d, K = %d, "
                "τ₀ = %.4g, T = %.3g, %d stages, %d micro-batches, schedule %s\n",
                o.backend.c_str(), data.train->count, data.test->count, static_cast<long>(dim), m.depth, m.heads,
                m.patch, o.staleness, o.warmup, m.tau0, m.temperature, o.stages, o.micro_batches, o.schedule.c_str());
    const auto seed = static_cast<std::uint64_t>(o.seed) * 1000 + 4;
    int backbone_blocks = 0;
    Blocks<B> teacher = moco_network<B>(m, dim, seed, false, &backbone_blocks);
    Blocks<B> student = moco_network<B>(m, dim, seed, true, &backbone_blocks);
    return run_self_supervised<B>(
        "mocov3_vit",
        momentum_phase<B>("mocov3", std::move(teacher), std::move(student),
                          std::make_shared<typename BackendKit<B>::MocoV3Loss>(static_cast<float>(m.temperature)),
                          optimizer_factory<B>(m.optimizer, o), m.tau0, backbone_blocks, o),
        o, data);
  });
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("mocov3_vit", [&] { return run(argc, argv); });
}
