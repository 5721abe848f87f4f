// resnet_kd: knowledge distillation on Fashion-MNIST (or --dataset) through a tspipe Pipeline.
//
//   1. teacher        a ResNet trained with cross-entropy (or loaded with --teacher-checkpoint)
//   2. student_alone  the smaller student ResNet trained with cross-entropy only
//   3. distilled      the same student (same initial weights, same epochs, same data order)
//                     trained with the soft-target loss CE + λ·T²·KL against the frozen teacher
// and reports the test accuracy of all three, then the schedule comparison of the run's own
// profiled costs. Phases 1 and 2 run through the same Pipeline with a parameter-free teacher, so
// every phase sees the same micro-batched BatchNorm and the same runtime.
#include "model_size.hpp"
#include "training.hpp"

#include <tspipe/nn/models/resnet.hpp>
#include <tspipe/nn/weights.hpp>
#include <tspipe/runtime/tensor_ops.hpp>

#include <chrono>
#include <cstdio>

using namespace tspipe;
using namespace tspipe::examples;

namespace {

struct KdOptions {
  int teacher_depth = 18, student_depth = 18;
  double teacher_width = 0.25;
  int teacher_epochs = 0;  // 0: --epochs
  std::string teacher_checkpoint;
  std::string optimizer = "sgd";
  double temperature = 4.0, kd_weight = 0.1;
  bool teacher_only = false;
  int crop_pad = 4;
};

template <class B>
PhaseSpec<B> supervised_phase(const std::string& name, Blocks<B> model, const CommonOptions& o, const KdOptions& kd, int epochs) {
  PhaseSpec<B> spec;
  spec.name = name;
  spec.teacher = pass_through_teacher<B>(o.stages * o.chunks);
  spec.student = std::move(model);
  spec.loss = std::make_shared<typename BackendKit<B>::CrossEntropyLoss>();
  spec.make_optimizer = optimizer_factory<B>(kd.optimizer, o);
  spec.pipeline.teacher = update::TeacherPolicy::frozen();
  spec.augment = supervised_views(o, kd.crop_pad);
  spec.epochs = epochs;
  return spec;
}

template <class B>
int train_and_distil(const CommonOptions& o, const KdOptions& kd);

/// The teacher's weights: the student of the teacher phase's checkpoint ("student." tensors; any
/// file of that model's names, shapes and dtypes). Error naming every tensor that does not fit
/// (another --teacher-depth or --teacher-width); the blocks are unchanged then.
template <class B>
void load_teacher(Blocks<B>& blocks, const std::filesystem::path& checkpoint) {
  nn::load_weights<B, runtime::TensorOps<typename B::Tensor>>(blocks, checkpoint, {.prefix = "student."});
}

int run(int argc, char** argv) {
  CommonOptions o;
  o.out = "out/resnet_kd";
  o.width = 0.125;
  o.learning_rate = 0.05;
  o.staleness = 0;
  KdOptions kd;
  Flags flags("resnet_kd", "Distils a ResNet teacher into a smaller ResNet student (Fashion-MNIST, or --dataset) through a tspipe Pipeline;\n"
                           "reports the test accuracy of the teacher, the student alone and the distilled student.");
  add_common_flags(flags, o);
  flags.add("teacher-depth", &kd.teacher_depth,
            "teacher ResNet depth: 18, 34, 50, 101, 152, or 6n+2 (8, 14, 20, ...) for the compact 3-stage ResNet with a pooled stem");
  flags.add("teacher-width", &kd.teacher_width, "teacher width multiplier (--width is the student's)");
  flags.add("student-depth", &kd.student_depth, "student ResNet depth (same choices)");
  flags.add("teacher-epochs", &kd.teacher_epochs, "epochs of teacher training (0 = --epochs)");
  flags.add("teacher-checkpoint", &kd.teacher_checkpoint,
            "load the teacher from this checkpoint (e.g. <out>/teacher/checkpoint.safetensors) instead of training it");
  flags.add("optimizer", &kd.optimizer, "sgd (Nesterov, the KD recipe) | lars | adamw");
  flags.add("temperature", &kd.temperature, "soft-target temperature T");
  flags.add("kd-weight", &kd.kd_weight, "soft-target weight λ in CE + λ·T²·KL");
  flags.add("crop-pad", &kd.crop_pad, "training augmentation: random crop after zero-padding by this many pixels (0 = none), then a horizontal flip");
  flags.add_switch("teacher-only", &kd.teacher_only,
                   "train (and test) the teacher only; distil later from its checkpoint with --teacher-checkpoint");
  if (!flags.parse(argc, argv)) return 0;
  if (o.staleness != 0 || o.warmup != 0)
    throw UsageError("--staleness/--warmup " + std::to_string(o.staleness) + "/" + std::to_string(o.warmup) +
                     ": resnet_kd's teacher is frozen (one version, never updated); the flags are for byol_resnet and mocov3_vit");
  check_common_options(o);
  optimizer_factory<cpu::Backend>(kd.optimizer, o);  // rejects an unknown name before any data is read
  if (o.init_probe)
    throw UsageError("--init-probe: resnet_kd has no linear probe (it measures classifiers); the flag is for byol_resnet and mocov3_vit");
  if (kd.crop_pad < 0 || kd.crop_pad > 14) throw UsageError("--crop-pad " + std::to_string(kd.crop_pad) + ": must lie in 0..14");
  if (kd.teacher_epochs < 0) throw UsageError("--teacher-epochs " + std::to_string(kd.teacher_epochs) + ": must be ≥ 0");
  if (!(kd.teacher_width > 0.0)) throw UsageError("--teacher-width " + std::to_string(kd.teacher_width) + ": must be positive");
  if (!(kd.temperature > 0.0)) throw UsageError("--temperature " + std::to_string(kd.temperature) + ": must be positive");
  if (!(kd.kd_weight >= 0.0)) throw UsageError("--kd-weight " + std::to_string(kd.kd_weight) + ": must be ≥ 0");
  for (int depth : {kd.teacher_depth, kd.student_depth})
    if (depth != 18 && depth != 34 && depth != 50 && depth != 101 && depth != 152 && !is_compact_resnet_depth(depth))
      throw UsageError("--teacher-depth/--student-depth " + std::to_string(depth) +
                       ": expected 18, 34, 50, 101, 152 or a compact depth 6n+2 (8, 14, 20, ...)");
  if (kd.teacher_only && !kd.teacher_checkpoint.empty())
    throw UsageError("--teacher-only with --teacher-checkpoint: nothing to train (the teacher is loaded, the students are skipped)");
  const ImageGeometry g = image_geometry(o);
  check_model_size("--teacher-depth " + std::to_string(kd.teacher_depth) + " --teacher-width " + brief(kd.teacher_width), "the teacher",
                   resnet_parameters(g, kd.teacher_depth, kd.teacher_width, g.classes), o);
  check_model_size("--student-depth " + std::to_string(kd.student_depth) + " --width " + brief(o.width), "the student",
                   resnet_parameters(g, kd.student_depth, o.width, g.classes), o);
  // The phases this run writes: a loaded teacher's directory is not this run's to replace.
  std::vector<std::string> phases = {"teacher", "student_alone", "distilled"};
  if (kd.teacher_only) phases = {"teacher"};
  if (!kd.teacher_checkpoint.empty()) phases = {"student_alone", "distilled"};
  begin_run(o, phases);  // once: auto becomes cpu or cuda for everything after; MPI starts here
  return with_backend(o.backend, [&]<class B>() { return train_and_distil<B>(o, kd); });
}

template <class B>
int train_and_distil(const CommonOptions& o, const KdOptions& kd) {

  const auto started = std::chrono::steady_clock::now();
  const Datasets data = load_datasets(o);
  std::printf("resnet_kd: backend %s, %s, %ld train / %ld test images, teacher ResNet-%d×%.3g, student ResNet-%d×%.3g, "
              "%s\n",
              o.backend.c_str(), dataset_title(o.dataset).c_str(), static_cast<long>(data.train->size()), static_cast<long>(data.test->size()),
              kd.teacher_depth, kd.teacher_width, kd.student_depth, o.width, pipeline_shape(o).c_str());
  const auto teacher_seed = static_cast<std::uint64_t>(o.seed) * 1000 + 1;
  const auto student_seed = static_cast<std::uint64_t>(o.seed) * 1000 + 2;
  const auto build_resnet = [&](int depth, double width, std::uint64_t seed) {
    return image_resnet<B>(data.geometry, depth, width, data.train->num_classes(), seed);
  };

  // 1. The teacher.
  std::filesystem::path teacher_checkpoint = kd.teacher_checkpoint;
  PhaseResult<B> teacher;
  double teacher_accuracy = 0.0;
  if (teacher_checkpoint.empty()) {
    teacher = run_phase(supervised_phase("teacher", build_resnet(kd.teacher_depth, kd.teacher_width, teacher_seed), o, kd,
                                         kd.teacher_epochs ? kd.teacher_epochs : o.epochs),
                        o, data);
    teacher_accuracy = teacher.test_accuracy;
    teacher_checkpoint = std::filesystem::path(o.out) / "teacher" / "checkpoint.safetensors";
  } else {
    Blocks<B> blocks = build_resnet(kd.teacher_depth, kd.teacher_width, teacher_seed);
    agreed([&] { load_teacher(blocks, teacher_checkpoint); });
    nn::Sequential<B> model(std::move(blocks));
    model.set_training(false);
    teacher_accuracy = model_accuracy(model, data);
    std::printf("teacher loaded from %s: test acc %.2f%%\n", teacher_checkpoint.string().c_str(), 100.0 * teacher_accuracy);
  }

  if (kd.teacher_only) {
    const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("\nresults (%s test, %ld images):\n  teacher          %.2f%%\n  wall time        %.1f s\n\n", dataset_title(o.dataset).c_str(),
                static_cast<long>(data.test->size()), 100.0 * teacher_accuracy, wall);
    std::printf("%s", teacher.summary["schedule_comparison_text"].template get<std::string>().c_str());
    write_run_outputs("resnet_kd", o, {{"teacher", &teacher}},
                      {{"teacher_accuracy", teacher_accuracy}, {"teacher_checkpoint", teacher_checkpoint.string()}}, wall);
    return 0;
  }

  // 2. The student alone, 3. the distilled student: same initial weights, epochs and data order.
  PhaseResult<B> alone = run_phase(supervised_phase("student_alone", build_resnet(kd.student_depth, o.width, student_seed), o, kd, o.epochs),
                                o, data);

  PhaseSpec<B> distil = supervised_phase("distilled", build_resnet(kd.student_depth, o.width, student_seed), o, kd, o.epochs);
  // The frozen teacher, as the teacher phase's student left it.
  distil.teacher = build_resnet(kd.teacher_depth, kd.teacher_width, teacher_seed);
  agreed([&] { load_teacher(distil.teacher, teacher_checkpoint); });
  distil.loss = std::make_shared<typename BackendKit<B>::SoftTargetKDLoss>(static_cast<float>(kd.temperature), static_cast<float>(kd.kd_weight));
  PhaseResult<B> distilled = run_phase(std::move(distil), o, data);

  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("\nresults (%s test, %ld images):\n  teacher          %.2f%%\n  student alone    %.2f%%\n"
              "  distilled        %.2f%%  (%+.2f pp over the student alone)\n  wall time        %.1f s\n\n",
              dataset_title(o.dataset).c_str(), static_cast<long>(data.test->size()), 100.0 * teacher_accuracy, 100.0 * alone.test_accuracy, 100.0 * distilled.test_accuracy,
              100.0 * (distilled.test_accuracy - alone.test_accuracy), wall);
  std::printf("%s", distilled.summary["schedule_comparison_text"].template get<std::string>().c_str());

  std::vector<std::pair<std::string, const PhaseOutcome*>> phases;
  if (teacher.pipeline) phases.emplace_back("teacher", &teacher);
  phases.emplace_back("student_alone", &alone);
  phases.emplace_back("distilled", &distilled);
  write_run_outputs("resnet_kd", o, phases,
                    {{"teacher_accuracy", teacher_accuracy},
                     {"student_alone_accuracy", alone.test_accuracy},
                     {"distilled_accuracy", distilled.test_accuracy},
                     {"distillation_gain_pp", 100.0 * (distilled.test_accuracy - alone.test_accuracy)},
                     {"teacher_checkpoint", teacher_checkpoint.string()},
                     {"temperature", kd.temperature},
                     {"kd_weight", kd.kd_weight}},
                    wall);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return guarded_main("resnet_kd", [&] { return run(argc, argv); });
}
