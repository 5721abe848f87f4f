#pragma once
// Small models and an independent single-device reference trainer for the runtime tests.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/pipeline.hpp>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <unistd.h>
#include <vector>

namespace test {

using B = tspipe::cpu::Backend;
using tspipe::nn::Tensor;
using Blocks = std::vector<tspipe::nn::LayerPtr<B>>;

/// The shapes and optimizer the runtime suites train with, in a namespace of their own (`using
/// namespace test::small_mlp;`) so that a file including common.hpp may still declare these names.
namespace small_mlp {

using tspipe::Pipeline;
using tspipe::PipelineOptions;

/// Samples of kFeatures values; kClasses outputs (logits or embeddings).
constexpr int64_t kFeatures = 6, kClasses = 4;
/// Four-block MLPs (mlp's widths): a student and the wider teacher a KD test distils from.
inline std::vector<int64_t> student_widths() { return {kFeatures, 10, 10, 8, kClasses}; }
inline std::vector<int64_t> teacher_widths() { return {kFeatures, 12, 12, 12, kClasses}; }

/// SGD with momentum 0.9 and weight decay 1e-3 at learning rate `lr`.
inline tspipe::OptimizerFactory sgd(double lr = 0.05) {
  return [lr] {
    return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = lr, .momentum = 0.9, .weight_decay = 1e-3});
  };
}

}  // namespace small_mlp

/// An MLP as blocks: Linear+ReLU pairs, then a Linear head. Same seed ⇒ same weights.
inline Blocks mlp(const std::vector<int64_t>& widths, uint64_t seed, const std::string& prefix = "fc") {
  Blocks blocks;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const std::string name = prefix + std::to_string(i);
    auto layer = B::linear(widths[i], widths[i + 1], true, seed + i, name);
    if (i + 2 < widths.size()) {
      auto block = std::make_unique<tspipe::nn::Sequential<B>>();
      block->add(name, std::move(layer));
      block->add(name + "_act", B::relu());
      blocks.push_back(std::move(block));
    } else {
      blocks.push_back(tspipe::nn::named<B>(name, std::move(layer)));
    }
  }
  return blocks;
}

inline tspipe::nn::Sequential<B> as_model(Blocks blocks) { return tspipe::nn::Sequential<B>(std::move(blocks)); }

inline std::map<std::string, std::vector<float>> values_of(std::vector<tspipe::nn::Parameter<B>> params) {
  std::map<std::string, std::vector<float>> out;
  for (auto& p : params) out[p.name] = std::vector<float>(p.value->span().begin(), p.value->span().end());
  return out;
}

inline double max_relative_difference(const std::map<std::string, std::vector<float>>& a,
                                      const std::map<std::string, std::vector<float>>& b) {
  double worst = 0.0;
  for (const auto& [name, values] : a) {
    const auto& other = b.at(name);
    double diff = 0.0, norm = 0.0;
    for (std::size_t i = 0; i < values.size(); ++i) {
      diff += (values[i] - other[i]) * double(values[i] - other[i]);
      norm += double(other[i]) * other[i];
    }
    worst = std::max(worst, std::sqrt(diff) / std::max(1e-12, std::sqrt(norm)));
  }
  return worst;
}

inline std::vector<tspipe::nn::ParamSlot> slots(tspipe::nn::Sequential<B>& model) {
  std::vector<tspipe::nn::ParamSlot> out;
  for (auto& p : model.parameters()) out.push_back({p.name, p.value->span(), p.grad->span(), p.no_weight_decay});
  return out;
}

/// Options for the small MLPs here: `stages` stages one block apart (stage s starts at block s),
/// batches of `batch` samples of `features` values, two batches a segment (several segments in a
/// short run: versions and state must carry over), a watchdog that never fires on a busy machine.
inline tspipe::PipelineOptions mlp_options(int stages, int micro_batches, const std::string& schedule, long batch, int64_t features) {
  tspipe::PipelineOptions o;
  o.stages = stages;
  o.micro_batches = micro_batches;
  o.schedule = schedule;
  o.batch_size = batch;
  o.input_shape = {features};
  o.segment_batches = 2;
  o.watchdog = std::chrono::milliseconds(20000);
  for (int s = 1; s < stages; ++s) {
    o.teacher_cuts.push_back(s);
    o.student_cuts.push_back(s);
  }
  return o;
}

/// A file `name` in this process's scratch folder `<tmp>/tspipe_<suite>_<pid>`, made on first use
/// and removed when the process ends, so that test processes running at once never share files.
/// One test binary names one suite.
inline std::filesystem::path scratch_file(const std::string& suite, const std::string& name) {
  struct Folder {
    std::filesystem::path path;
    explicit Folder(const std::string& suite)
        : path(std::filesystem::temp_directory_path() / ("tspipe_" + suite + "_" + std::to_string(::getpid()))) {
      std::filesystem::create_directories(path);
    }
    ~Folder() { std::filesystem::remove_all(path); }
  };
  static const Folder folder(suite);
  return folder.path / name;
}

/// Whether two cost models agree exactly, field by field.
inline bool same_costs(const tspipe::schedule::CostModel& a, const tspipe::schedule::CostModel& b) {
  if (a.per_action_overhead != b.per_action_overhead || a.stages.size() != b.stages.size()) return false;
  for (std::size_t s = 0; s < a.stages.size(); ++s) {
    const auto &x = a.stages[s], &y = b.stages[s];
    if (x.teacher_forward != y.teacher_forward || x.student_forward != y.student_forward || x.student_backward != y.student_backward ||
        x.backward_input_share != y.backward_input_share || x.loss != y.loss || x.optimizer != y.optimizer || x.ema != y.ema ||
        x.transfer != y.transfer || x.activation_memory != y.activation_memory || x.teacher_output_memory != y.teacher_output_memory)
      return false;
  }
  return true;
}

/// A batch of `views` inputs [n, features] and labels, deterministic in `seed`.
struct Batch {
  std::vector<Tensor> views;
  std::vector<int> labels;
};
inline Batch make_batch(long n, int64_t features, int views, int classes, uint64_t seed) {
  Batch batch;
  for (int v = 0; v < views; ++v) batch.views.push_back(Tensor::randn({n, features}, seed * 31 + v));
  tspipe::nn::Rng rng(seed);
  for (long i = 0; i < n; ++i) batch.labels.push_back(static_cast<int>(rng.next_u64() % static_cast<uint64_t>(classes)));
  return batch;
}

inline tspipe::nn::MatrixView matrix(const Tensor& t) {
  return {t.data(), static_cast<int>(t.size(0)), static_cast<int>(t.numel() / t.size(0))};
}

/// Every view of the whole batch through the teacher (infer) and the student (forward), the loss
/// over all views at once, and the student's backward: its gradients then hold the batch's.
inline tspipe::nn::LossOutput whole_batch_backward(tspipe::nn::Sequential<B>& teacher, tspipe::nn::Sequential<B>& student,
                                                   const tspipe::nn::Loss& loss, const Batch& batch) {
  std::vector<Tensor> t_out, s_out;
  std::vector<tspipe::nn::Context<B>> contexts;
  tspipe::nn::LossInput input;
  for (const Tensor& x : batch.views) {
    t_out.push_back(teacher.infer(x));
    auto [y, ctx] = student.forward(x);
    s_out.push_back(y);
    contexts.push_back(std::move(ctx));
  }
  for (std::size_t v = 0; v < batch.views.size(); ++v) {
    input.student.push_back(matrix(s_out[v]));
    input.teacher.push_back(matrix(t_out[v]));
  }
  input.labels = batch.labels;
  auto out = loss.compute(input);
  for (std::size_t v = 0; v < batch.views.size(); ++v)
    student.backward(contexts[v], Tensor::from(s_out[v].shape(), out.d_student[v]));
  return out;
}

/// Plain single-device training of the same models (the reference): the teacher of batch b reads
/// ξ_{version(b)}, the student trains on the whole batch at once, then OPT and (momentum) EMA.
struct ReferenceTrainer {
  tspipe::nn::Sequential<B> teacher, student;
  std::shared_ptr<const tspipe::nn::Loss> loss;
  std::unique_ptr<tspipe::nn::Optimizer> optimizer;
  tspipe::update::TeacherPolicy policy;
  std::map<long, std::map<std::string, std::vector<float>>> teacher_versions;  // ξ_r by r
  long step = 0;

  ReferenceTrainer(tspipe::nn::Sequential<B> t, tspipe::nn::Sequential<B> s, std::shared_ptr<const tspipe::nn::Loss> l,
                   std::unique_ptr<tspipe::nn::Optimizer> o, tspipe::update::TeacherPolicy p)
      : teacher(std::move(t)), student(std::move(s)), loss(std::move(l)), optimizer(std::move(o)), policy(p) {}

  void remember_teacher() { teacher_versions[step] = values_of(teacher.parameters()); }
  void load_teacher(long r) {
    const auto& values = teacher_versions.at(r);
    for (auto& p : teacher.parameters()) std::copy(values.at(p.name).begin(), values.at(p.name).end(), p.value->data());
  }

  double train(const Batch& batch, double tau) {
    if (teacher_versions.empty()) remember_teacher();
    const long newest = step;
    load_teacher(policy.version_read(step));
    const auto out = whole_batch_backward(teacher, student, *loss, batch);
    auto student_slots = slots(student);
    optimizer->step(student_slots);
    student.zero_grad();
    if (policy.is_momentum()) {
      load_teacher(newest);
      std::vector<tspipe::nn::TeacherSlot> teacher_slots;
      for (auto& p : teacher.parameters()) teacher_slots.push_back({p.name, p.value->span()});
      std::vector<tspipe::nn::ParamSlot> paired;
      for (auto& s : student_slots)
        for (auto& t : teacher_slots)
          if (t.name == s.name) paired.push_back(s);
      tspipe::nn::momentum_teacher_update(teacher_slots, paired, static_cast<float>(tau));
    }
    ++step;
    if (policy.is_momentum()) remember_teacher();
    return out.loss;
  }
};

/// Calls `visit(difference)` for each teacher version ξ_r that a stage of `pipeline` still holds,
/// with its relative difference (max_relative_difference) from the reference trajectory's ξ_r.
template <class Visit>
void for_each_held_teacher_version(tspipe::Pipeline<B>& pipeline, const ReferenceTrainer& ref, Visit&& visit) {
  const auto held = pipeline.teacher_versions_held();
  for (int s = 0; s < pipeline.stages(); ++s)
    for (long r : held[static_cast<std::size_t>(s)]) {
      std::map<std::string, std::vector<float>> got, want;
      pipeline.with_teacher_version(s, r, [&](auto& teacher) { got = values_of(teacher.parameters()); });
      for (const auto& [param, values] : ref.teacher_versions.at(r))
        if (got.count(param)) want[param] = values;
      visit(max_relative_difference(got, want));
    }
}

/// The largest of those differences, over every stage and r.
inline double worst_held_teacher_version(tspipe::Pipeline<B>& pipeline, const ReferenceTrainer& ref) {
  double worst = 0.0;
  for_each_held_teacher_version(pipeline, ref, [&](double difference) { worst = std::max(worst, difference); });
  return worst;
}

/// Feeds batches [from, to) (`batch_at(step)` makes each; its labels go in when `labelled`),
/// flushes, and returns the losses reported.
template <class BatchAt>
std::vector<tspipe::LossRecord> train_range(tspipe::Pipeline<B>& pipeline, int from, int to, BatchAt&& batch_at, bool labelled) {
  for (int step = from; step < to; ++step) {
    const Batch batch = batch_at(step);
    pipeline.feed(batch.views, labelled ? batch.labels : std::vector<int>{});
  }
  pipeline.flush();
  return pipeline.take_losses();
}

/// What differs between a run resumed from a checkpoint and the run never interrupted (empty when
/// nothing does, bit for bit): `later`, the resumed run's losses, against the tail of `all`, the
/// uninterrupted run's; then the student, the teacher and the teacher versions each stage holds.
inline std::string resume_difference(tspipe::Pipeline<B>& resumed, const std::vector<tspipe::LossRecord>& later,
                                     tspipe::Pipeline<B>& uninterrupted, const std::vector<tspipe::LossRecord>& all) {
  if (later.size() > all.size()) return std::to_string(later.size()) + " losses after the resume, " + std::to_string(all.size()) + " in all";
  const std::size_t offset = all.size() - later.size();
  for (std::size_t i = 0; i < later.size(); ++i)
    if (later[i].batch != all[offset + i].batch || later[i].loss != all[offset + i].loss)
      return "batch " + std::to_string(later[i].batch) + ": loss " + std::to_string(later[i].loss) + ", uninterrupted batch " +
             std::to_string(all[offset + i].batch) + " " + std::to_string(all[offset + i].loss);
  if (values_of(resumed.student_parameters()) != values_of(uninterrupted.student_parameters())) return "the student differs";
  if (values_of(resumed.teacher_parameters()) != values_of(uninterrupted.teacher_parameters())) return "the teacher differs";
  if (resumed.teacher_versions_held() != uninterrupted.teacher_versions_held()) return "the teacher versions held differ";
  return {};
}

}  // namespace test
