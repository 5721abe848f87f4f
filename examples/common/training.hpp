#pragma once
// The training loop every example shares: one "phase" trains a student against a teacher through
// a tspipe::Pipeline for some epochs, measuring test accuracy after each, writing checkpoints that
// --resume continues from, the training curve and the measured pipeline timeline. Examples only
// build models, losses and optimizers and chain phases. Alone or as the ranks of an MPI launch
// (launch.hpp): the same code, each rank running its stage and its share of the evaluation.
//
// Output of a phase, under <out>/<phase>/:
//   checkpoint.safetensors  Pipeline::save after the last finished epoch, with the epochs done and
//                           their records in its metadata: the phase's whole resumable state
//                           (run_state.hpp)
//   timeline.svg            the measured timeline of the last batches (one row per stage; alone)
//   trace.json              the last epoch's measured actions, Chrome-trace / Perfetto format (alone)
#include "backends.hpp"
#include "cli.hpp"
#include "datasets.hpp"
#include "evaluation.hpp"
#include "launch.hpp"
#include "report.hpp"

#include <tspipe/nn/models/resnet.hpp>
#include <tspipe/pipeline.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tspipe::examples {

template <class B>
using Blocks = std::vector<nn::LayerPtr<B>>;

/// Whether `depth` names a compact CIFAR-style ResNet (6n + 2: 8, 14, 20, 26, 32, ...).
inline bool is_compact_resnet_depth(int depth) { return depth >= 8 && (depth - 2) % 6 == 0; }

/// Whether a ResNet for `g`'s images starts with ImageNet's stem (7×7/2 conv and 3×3/2 max-pool)
/// rather than the small-image one (3×3, stride 1): images over 64 pixels (STL-10's 96, a folder's
/// 224) are cut to a quarter of their side before the residual stages.
inline bool uses_imagenet_stem(const ImageGeometry& g) { return g.side > 64; }

/// A ResNet for the run's images (image_geometry); num_classes 0 ends at the pooled features (a
/// backbone). Depths 18, 34, 50, 101, 152: torchvision's layouts, with the small-image stem (3×3,
/// stride 1) up to 64-pixel images (Fashion-MNIST, CIFAR) and ImageNet's above. Depths 6n + 2 (8,
/// 14, 20, ...): the compact CIFAR-style layout, three stages of n basic blocks at widths
/// 64/128/256 × width, behind a 3×3 stem and a 2×2 max-pool (on 28×28 images, stages at 14×14,
/// 7×7, 4×4) — a few times cheaper per image, for full-data training on a CPU.
template <class B>
Blocks<B> image_resnet(const ImageGeometry& g, int depth, double width, int64_t num_classes, std::uint64_t seed) {
  nn::models::ResNetConfig c;
  c.depth = depth;
  c.width = width;
  c.stem = uses_imagenet_stem(g) ? nn::models::Stem::imagenet : nn::models::Stem::small_image;
  c.in_channels = g.channels;
  c.num_classes = num_classes;
  c.seed = seed;
  if (is_compact_resnet_depth(depth)) {
    c.depth = 18;  // basic blocks
    c.stem = nn::models::Stem::small_image_pooled;
    c.residual_stages = 3;
    c.blocks_per_stage = (depth - 2) / 6;
  }
  return nn::models::resnet<B>(c);
}

/// How a phase measures test accuracy after each epoch.
enum class Measure {
  classifier,    ///< the student's output is class logits
  linear_probe,  ///< a linear classifier on the frozen features of the first `feature_blocks` student blocks
};

template <class B>
struct PhaseSpec {
  std::string name;              ///< also the subdirectory of --out
  Blocks<B> teacher, student;
  std::shared_ptr<const typename Pipeline<B>::Loss> loss;
  typename Pipeline<B>::OptimizerFactory make_optimizer;
  /// views, teacher policy (kind, τ₀) and teacher_uses_batch_statistics; stages, micro-batches,
  /// chunks and their placement, schedule, staleness, warm-up, batch size and input shape come
  /// from the command line.
  PipelineOptions pipeline;
  data::MultiView augment;
  /// Trains on the dataset's unlabeled split where it has one (STL-10): self-supervised phases.
  bool unlabeled = false;
  int epochs = 1;
  Measure measure = Measure::classifier;
  int feature_blocks = 0;
  KnnMonitor knn;  ///< linear-probe phases only
};

/// What a finished phase reports, whatever the backend.
struct PhaseOutcome {
  std::vector<EpochRecord> history;  ///< every epoch, resumed ones included
  double test_accuracy = -1.0;       ///< after the last epoch
  nlohmann::json summary;            ///< history, timing, schedule comparison
  /// --init-probe on a linear-probe phase: the probe accuracy of the untrained (initial) weights.
  double init_probe_accuracy = -1.0;
  /// The kNN monitor's accuracy on the untrained (initial) weights, when the phase has a monitor.
  double init_knn_accuracy = -1.0;
};

template <class B>
struct PhaseResult : PhaseOutcome {
  std::unique_ptr<Pipeline<B>> pipeline;
};

template <class B>
PhaseResult<B> run_phase(PhaseSpec<B> spec, const CommonOptions& options, const Datasets& data);

/// A parameter-free teacher of `stages` blocks (one per logical stage: --stages × --chunks), for
/// phases trained with a supervised loss only (the teacher of a KD pipeline before it exists, the
/// student-alone baseline): its outputs are ignored by CrossEntropyLoss, and the run keeps every
/// other property of the pipelined one.
template <class B>
Blocks<B> pass_through_teacher(int stages) {
  Blocks<B> blocks;
  for (int s = 0; s < stages; ++s) blocks.push_back(B::flatten());
  return blocks;
}

/// sgd (Nesterov, momentum 0.9), lars (BYOL's, momentum 0.9, η = 1e-3) or adamw, with --lr and
/// --weight-decay; UsageError naming --optimizer for anything else.
template <class B>
typename Pipeline<B>::OptimizerFactory optimizer_factory(const std::string& name, const CommonOptions& options) {
  using Kit = BackendKit<B>;
  const double lr = options.learning_rate;
  const auto wd = static_cast<float>(options.weight_decay);
  if (name == "sgd")
    return [=] { return std::make_unique<typename Kit::Sgd>(nn::SgdOptions{.learning_rate = lr, .momentum = 0.9f, .weight_decay = wd, .nesterov = true}); };
  if (name == "lars") return [=] { return std::make_unique<typename Kit::Lars>(nn::LarsOptions{.learning_rate = lr, .weight_decay = wd}); };
  if (name == "adamw") return [=] { return std::make_unique<typename Kit::AdamW>(nn::AdamWOptions{.learning_rate = lr, .weight_decay = wd}); };
  throw UsageError("--optimizer '" + name + "': expected sgd, lars or adamw");
}

/// A self-supervised phase: two views (PhaseSpec::augment, the caller's), a momentum teacher (τ₀
/// cosine to 1 over the run; δ and K from the flags) whose BatchNorm uses batch statistics, the
/// dataset's unlabeled split where it has one, accuracy by linear probe on the first
/// `feature_blocks` student blocks (the backbone).
template <class B>
PhaseSpec<B> momentum_phase(std::string name, Blocks<B> teacher, Blocks<B> student,
                            std::shared_ptr<const typename Pipeline<B>::Loss> loss,
                            typename Pipeline<B>::OptimizerFactory make_optimizer, double tau0, int feature_blocks,
                            const CommonOptions& options);

/// Runs a self-supervised example's one phase and writes its outputs: prints the final linear
/// probe accuracy and the schedule comparison. Returns the exit code.
template <class B>
int run_self_supervised(const std::string& example, PhaseSpec<B> spec, const CommonOptions& options, const Datasets& data);

/// The simulated schedule comparison of the pipeline's own profiled costs: every generator on
/// this run's workload. Returns the printable table and fills `json`.
template <class B>
std::string schedule_comparison(const Pipeline<B>& pipeline, nlohmann::json& json);

nlohmann::json options_json(const CommonOptions& options);

/// Writes <out>/summary.json (flags, every phase's summary, `results`, wall time) and
/// <out>/curve.svg (every phase's loss and accuracy per epoch), and prints where they are.
void write_run_outputs(const std::string& example, const CommonOptions& options,
                       const std::vector<std::pair<std::string, const PhaseOutcome*>>& phases, const nlohmann::json& results,
                       double wall_seconds);

/// Runs an example's body: UsageError → exit 2, any other exception → exit 1, each with the
/// program name and the message on stderr; --stop-after → exit 0. Under MPI, rank 0 alone prints,
/// and a failure of one rank alone ends the job (launch.hpp).
int guarded_main(const char* program, const std::function<int()>& body);

}  // namespace tspipe::examples
