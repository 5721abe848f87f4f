#pragma once
// The program of a momentum-teacher self-supervised example (byol_resnet, mocov3_vit): its flags
// and their checks, the backend choice, and one phase that trains a student (backbone + projector
// + predictor) against a momentum teacher (backbone + projector, built with the same names and
// seed, so it starts from the student's weights) through a tspipe Pipeline, judged by a linear
// probe on the frozen backbone and watched by a kNN monitor after every epoch. The parts of the
// published recipes (docs/ssl-recipes.md) live here: the heads, the augmentation pair, the
// learning-rate scaling rule and warm-up. An example supplies its names (MomentumExample), its
// defaults and its recipe, a type with:
//   void add_backbone_flags(Flags&);  flags listed before the heads' flags
//   void add_loss_flags(Flags&);      flags listed between --tau0 and --optimizer
//   void check(const CommonOptions&) const;    UsageError naming a bad flag of its own
//   void describe(const CommonOptions&, const MomentumOptions&, const Datasets&) const;  first line
//   template <class B> Blocks<B> backbone(const CommonOptions&, std::uint64_t seed) const;
//   int64_t feature_size(const CommonOptions&) const;          the backbone's output width
//   double backbone_parameters(const CommonOptions&) const;    its size (model_size.hpp)
//   template <class B> std::shared_ptr<const typename Pipeline<B>::Loss> loss() const;
#include "model_size.hpp"
#include "training.hpp"

#include <tspipe/data/subset_source.hpp>
#include <tspipe/nn/models/heads.hpp>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <string>

namespace tspipe::examples {

/// The flags every momentum example has beyond the common ones (τ₀ and the optimizer default to
/// the example's).
struct MomentumOptions {
  int projection_dim = 64, hidden_dim = 256;
  double tau0 = 0.0;
  std::string optimizer;
  std::string lr_scaling = "linear";  ///< linear: the run's rate is --lr × batch/256; none: --lr itself
  double crop_min = 0.08;             ///< RandomResizedCrop's smallest area fraction
  int knn_k = 20, knn_subset = 10000;
  double knn_temperature = 0.07;
};

/// What names a momentum example, and its own defaults of the flags.
struct MomentumExample {
  const char* program;         ///< the program's name in its usage, messages and summary
  const char* phase;           ///< the phase's name, and its subdirectory of --out
  std::uint64_t seed_salt;     ///< the models' seed is --seed · 1000 + seed_salt
  int projector_layers;        ///< Linear layers of the projector (the predictor has two)
  /// The projector and the predictor end in BatchNorm without affine parameters (MoCo-v3's ViT heads).
  bool heads_end_in_batch_norm;
  /// The recipe's defaults of the flags, before the command line: --out, --width, --lr (per 256
  /// images), --weight-decay, --lr-warmup-epochs here, --tau0 and --optimizer in `momentum`.
  CommonOptions common;
  MomentumOptions momentum;
  const char* optimizer_help;  ///< --optimizer's help (the optimizers, the recipe's own first)
  const char* summary;         ///< --help's description
};

/// The BYOL recipe's learning-rate rule (MoCo-v3 follows it): lr = base × batch / 256.
inline double linearly_scaled_learning_rate(double base_per_256, int batch_size) {
  return base_per_256 * static_cast<double>(batch_size) / 256.0;
}

/// BYOL's asymmetric pair of views (MoCo-v3 uses the same), cut to what a 28×28 grey image allows
/// (docs/ssl-recipes.md): crop of [crop_min, 1] of the area, flip, brightness/contrast jitter 0.4
/// with p 0.8 (no saturation, hue or grey conversion: the image is grey already), 3×3 Gaussian blur
/// with σ in [0.1, 2] (p 1.0 for view 1, 0.1 for view 2), solarisation (p 0 / 0.2).
inline data::MultiView grey_ssl_views(const data::Normalization& norm, int size, float crop_min) {
  const auto view = [&](float blur_p, float solarize_p) {
    return data::ViewPipeline(data::RandomResizedCrop(size, size, crop_min, 1.0f),
                              {data::HorizontalFlip(0.5f), data::ColorJitter({.brightness = 0.4f, .contrast = 0.4f}, 0.8f),
                               data::GaussianBlur(3, 0.1f, 2.0f, blur_p), data::RandomSolarize(solarize_p),
                               data::Normalize(norm)});
  };
  return {{view(1.0f, 0.0f), view(0.1f, 0.2f)}};
}

/// The kNN monitor over the first --knn-subset training images (the memory bank) and test images
/// (the queries); k = 0: none. UsageError naming --knn-k when k exceeds the bank.
inline KnnMonitor knn_monitor(const MomentumOptions& m, const Datasets& data) {
  KnnMonitor monitor;
  if (m.knn_k == 0) return monitor;
  const auto first = [&](const std::shared_ptr<const data::ImageSource>& source) {
    if (m.knn_subset == 0 || m.knn_subset >= source->size()) return source;
    return data::subset_source(source, 0, m.knn_subset);
  };
  monitor.bank = first(data.train);
  monitor.queries = first(data.test);
  if (m.knn_k > monitor.bank->size())
    throw UsageError("--knn-k " + std::to_string(m.knn_k) + ": more neighbours than the " +
                     std::to_string(monitor.bank->size()) + " memory-bank images");
  monitor.options = {.k = m.knn_k, .temperature = m.knn_temperature};
  return monitor;
}

template <class Recipe>
int momentum_example_body(int argc, char** argv, const MomentumExample& example, CommonOptions& o, MomentumOptions& m,
                          Recipe& recipe) {
  Flags flags(example.program, example.summary);
  add_common_flags(flags, o);
  recipe.add_backbone_flags(flags);
  flags.add("projection-dim", &m.projection_dim, "projector/predictor output size");
  flags.add("hidden-dim", &m.hidden_dim, "projector/predictor hidden size");
  flags.add("tau0", &m.tau0, "initial EMA momentum τ₀ (cosine to 1 over the run)");
  recipe.add_loss_flags(flags);
  flags.add("optimizer", &m.optimizer, example.optimizer_help);
  flags.add("lr-scaling", &m.lr_scaling,
            "linear: --lr is per 256 images and the run uses --lr × batch-size / 256 (the recipes' rule) | "
            "none: --lr as is");
  flags.add("crop-min", &m.crop_min, "smallest area fraction of the random resized crop");
  flags.add("probe-epochs", &o.probe_epochs, "epochs of the linear probe's classifier");
  flags.add("knn-k", &m.knn_k, "kNN monitor after each epoch: neighbours voting, exp(cos/T)-weighted (0 = no monitor)");
  flags.add("knn-temperature", &m.knn_temperature, "kNN monitor: the vote temperature T");
  flags.add("knn-subset", &m.knn_subset,
            "kNN monitor: the first N training images form the memory bank, the first N test images the queries "
            "(0 = all)");
  if (!flags.parse(argc, argv)) return 0;
  check_common_options(o);
  recipe.check(o);
  if (m.projection_dim < 1 || m.hidden_dim < 1)
    throw UsageError("--projection-dim/--hidden-dim " + std::to_string(m.projection_dim) + "/" +
                     std::to_string(m.hidden_dim) + ": must be positive");
  if (m.lr_scaling != "linear" && m.lr_scaling != "none")
    throw UsageError("--lr-scaling '" + m.lr_scaling + "': expected linear or none");
  if (!(m.crop_min > 0.0 && m.crop_min <= 1.0))
    throw UsageError("--crop-min " + std::to_string(m.crop_min) + ": must lie in (0, 1]");
  if (m.knn_k < 0 || m.knn_subset < 0)
    throw UsageError("--knn-k/--knn-subset " + std::to_string(m.knn_k) + "/" + std::to_string(m.knn_subset) +
                     ": must be ≥ 0");
  if (!(m.knn_temperature > 0.0))
    throw UsageError("--knn-temperature " + std::to_string(m.knn_temperature) + ": must be positive");
  const double base_lr = o.learning_rate;
  if (m.lr_scaling == "linear") o.learning_rate = linearly_scaled_learning_rate(base_lr, o.batch_size);
  optimizer_factory<cpu::Backend>(m.optimizer, o);  // rejects an unknown name before any data is read

  check_momentum_model_size(recipe.backbone_parameters(o), recipe.feature_size(o), m.projection_dim, m.hidden_dim,
                            example.projector_layers, o);
  begin_run(o, {example.phase});  // once: auto becomes cpu or cuda for everything after; MPI starts here
  return with_backend(o.backend, [&]<class B>() {
    const Datasets data = load_datasets(o);
    recipe.describe(o, m, data);
    std::printf("%s: learning rate %.4g (--lr %.4g%s), %d warm-up epoch(s), crop area [%.3g, 1]\n", example.program,
                o.learning_rate, base_lr, m.lr_scaling == "linear" ? " × batch/256" : "", o.lr_warmup_epochs,
                m.crop_min);
    const auto seed = static_cast<std::uint64_t>(o.seed) * 1000 + example.seed_salt;
    const int64_t features = recipe.feature_size(o);
    const auto network = [&](bool with_predictor) {
      Blocks<B> blocks = recipe.template backbone<B>(o, seed);
      blocks.push_back(nn::models::mlp_head<B>({.name = "projector", .in_features = features,
                                                .hidden_features = m.hidden_dim, .out_features = m.projection_dim,
                                                .layers = example.projector_layers, .seed = seed + 1,
                                                .output_batch_norm = example.heads_end_in_batch_norm}));
      if (with_predictor)
        blocks.push_back(nn::models::mlp_head<B>({.name = "predictor", .in_features = m.projection_dim,
                                                  .hidden_features = m.hidden_dim, .out_features = m.projection_dim,
                                                  .layers = 2, .seed = seed + 2,
                                                  .output_batch_norm = example.heads_end_in_batch_norm}));
      return blocks;
    };
    Blocks<B> teacher = network(false);
    Blocks<B> student = network(true);
    const int backbone_blocks = static_cast<int>(teacher.size()) - 1;  // all but the projector
    PhaseSpec<B> phase =
        momentum_phase<B>(example.phase, std::move(teacher), std::move(student), recipe.template loss<B>(),
                          optimizer_factory<B>(m.optimizer, o), m.tau0, backbone_blocks, o);
    // Colour images get the recipe's views as published (data/presets.hpp: BYOL's probabilities).
    phase.augment = data.geometry.channels == 1
                        ? grey_ssl_views(data.normalization, data.geometry.side, static_cast<float>(m.crop_min))
                        : data::mocov3_views(data.normalization, data.geometry.side, static_cast<float>(m.crop_min));
    phase.knn = knn_monitor(m, data);
    return run_self_supervised<B>(example.program, std::move(phase), o, data);
  });
}

/// The example's whole program (what main returns): UsageError → exit 2, other errors → exit 1.
template <class Recipe>
int run_momentum_example(int argc, char** argv, const MomentumExample& example, Recipe recipe) {
  CommonOptions o = example.common;
  MomentumOptions m = example.momentum;
  return guarded_main(example.program, [&] { return momentum_example_body(argc, argv, example, o, m, recipe); });
}

}  // namespace tspipe::examples
