#pragma once
// The program of a momentum-teacher self-supervised example (byol_resnet, mocov3_vit): its flags
// and their checks, the backend choice, and one phase that trains a student (backbone + projector
// + predictor) against a momentum teacher (backbone + projector, built with the same names and
// seed, so it starts from the student's weights) through a tspipe Pipeline, judged by a linear
// probe on the frozen backbone. An example supplies its names (MomentumExample), its defaults and
// its recipe, a type with:
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

#include <tspipe/nn/models/heads.hpp>

#include <cstdint>
#include <string>

namespace tspipe::examples {

/// What names a momentum example, and its own defaults of the flags.
struct MomentumExample {
  const char* program;         ///< the program's name in its usage, messages and summary
  const char* phase;           ///< the phase's name, and its subdirectory of --out
  std::uint64_t seed_salt;     ///< the models' seed is --seed · 1000 + seed_salt
  int projector_layers;        ///< Linear layers of the projector (the predictor has two)
  const char* out;             ///< --out
  double width, learning_rate, weight_decay, tau0;  ///< --width, --lr, --weight-decay, --tau0
  const char* optimizer;       ///< --optimizer
  const char* optimizer_help;  ///< --optimizer's help (the optimizers, the recipe's own first)
  const char* summary;         ///< --help's description
};

/// The flags every momentum example has beyond the common ones (τ₀ and the optimizer default to
/// the example's).
struct MomentumOptions {
  int projection_dim = 64, hidden_dim = 256;
  double tau0 = 0.0;
  std::string optimizer;
};

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
  flags.add("probe-epochs", &o.probe_epochs, "epochs of the linear probe's classifier");
  if (!flags.parse(argc, argv)) return 0;
  check_common_options(o);
  recipe.check(o);
  if (m.projection_dim < 1 || m.hidden_dim < 1)
    throw UsageError("--projection-dim/--hidden-dim " + std::to_string(m.projection_dim) + "/" +
                     std::to_string(m.hidden_dim) + ": must be positive");
  optimizer_factory<cpu::Backend>(m.optimizer, o);  // rejects an unknown name before any data is read

  check_momentum_model_size(recipe.backbone_parameters(o), recipe.feature_size(o), m.projection_dim, m.hidden_dim,
                            example.projector_layers, o);
  begin_run(o, {example.phase});  // once: auto becomes cpu or cuda for everything after; MPI starts here
  return with_backend(o.backend, [&]<class B>() {
    const Datasets data = load_datasets(o);
    recipe.describe(o, m, data);
    const auto seed = static_cast<std::uint64_t>(o.seed) * 1000 + example.seed_salt;
    const int64_t features = recipe.feature_size(o);
    const auto network = [&](bool with_predictor) {
      Blocks<B> blocks = recipe.template backbone<B>(o, seed);
      blocks.push_back(nn::models::mlp_head<B>(
          {"projector", features, m.hidden_dim, m.projection_dim, example.projector_layers, seed + 1}));
      if (with_predictor)
        blocks.push_back(
            nn::models::mlp_head<B>({"predictor", m.projection_dim, m.hidden_dim, m.projection_dim, 2, seed + 2}));
      return blocks;
    };
    Blocks<B> teacher = network(false);
    Blocks<B> student = network(true);
    const int backbone_blocks = static_cast<int>(teacher.size()) - 1;  // all but the projector
    return run_self_supervised<B>(example.program,
                                  momentum_phase<B>(example.phase, std::move(teacher), std::move(student),
                                                    recipe.template loss<B>(), optimizer_factory<B>(m.optimizer, o),
                                                    m.tau0, backbone_blocks, o),
                                  o, data);
  });
}

/// The example's whole program (what main returns): UsageError → exit 2, other errors → exit 1.
template <class Recipe>
int run_momentum_example(int argc, char** argv, const MomentumExample& example, Recipe recipe) {
  CommonOptions o;
  o.out = example.out;
  o.width = example.width;
  o.learning_rate = example.learning_rate;
  o.weight_decay = example.weight_decay;
  MomentumOptions m;
  m.tau0 = example.tau0;
  m.optimizer = example.optimizer;
  return guarded_main(example.program, [&] { return momentum_example_body(argc, argv, example, o, m, recipe); });
}

}  // namespace tspipe::examples
