#pragma once
// tspipe::Pipeline<Backend>: trains a student against a teacher through a validated schedule.
//
//   tspipe::PipelineOptions options;
//   options.stages = 2; options.micro_batches = 4; options.schedule = "tspipe";
//   options.batch_size = 64; options.input_shape = {3, 32, 32};
//   tspipe::Pipeline<tspipe::cpu::Backend> pipeline(std::move(teacher_blocks), std::move(student_blocks),
//       std::make_shared<tspipe::nn::SoftTargetKDLoss>(),
//       [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.1}); },
//       options);
//   for (auto& batch : loader) pipeline.feed({batch_tensor}, labels);   // losses arrive late:
//   pipeline.flush();                                                   // all fed batches done
//   for (auto [batch, loss] : pipeline.take_losses()) ...
//
// Execution: fed batches are run in segments of `segment_batches` batches. For each segment the
// named generator produces every device's action list, the validator checks it, and one worker
// thread per stage runs its list (strictly in order, or dynamically: see runtime/dispatch.hpp),
// exchanging activations and gradients through an in-process transport. Teacher versions, the
// optimizer state and the step count carry across segments, so segmenting changes timing (a
// drain every segment), never results.
//
// Backends: what differs between host and device tensors (the loss and optimizer types, parameter
// views, teacher version copies, a stage's stream) comes from runtime::BackendHooks<Backend>. For
// the CPU backend these are nn::Loss and nn::Optimizer; for Pipeline<cuda::Backend> include
// <tspipe/cuda/pipeline.hpp> (device losses and optimizers, one stream per stage).
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/partition/partitioner.hpp>
#include <tspipe/runtime/backend_hooks.hpp>
#include <tspipe/runtime/dispatch.hpp>
#include <tspipe/runtime/profile.hpp>
#include <tspipe/runtime/stage.hpp>
#include <tspipe/runtime/tensor_ops.hpp>
#include <tspipe/runtime/transport.hpp>
#include <tspipe/schedule/generators.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/evaluate.hpp>
#include <tspipe/update/teacher_policy.hpp>

#include <atomic>
#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tspipe {

using OptimizerFactory = std::function<std::unique_ptr<nn::Optimizer>()>;  ///< for host backends

struct PipelineOptions {
  int stages = 1;
  int micro_batches = 1;
  int views = 1;
  std::string schedule = "tspipe";
  schedule::BackwardSplit split = schedule::BackwardSplit::full;
  update::TeacherPolicy teacher;
  bool teacher_uses_batch_statistics = false;  ///< teacher BatchNorm in training mode (BYOL's target)

  long batch_size = 0;            ///< samples per batch (every fed batch must have it)
  nn::Shape input_shape;          ///< one sample's shape, e.g. {3, 32, 32}
  std::vector<int> teacher_cuts;  ///< first block of stages 1…S−1; empty = automatic
  std::vector<int> student_cuts;
  double memory_cap_bytes = 0.0;  ///< per device, for the automatic partition; 0 = none

  /// Let the `tspipe` schedule choose the number of micro-batches (up to the batch size) and the
  /// backward split (full or BI/BW) from the profiled costs; micro_batches is then its start.
  bool choose_micro_batches = false;
  bool choose_split = false;

  /// How workers pick actions: their lists strictly in order (the default, what the simulator
  /// predicts), or dynamically, the highest-priority ready action (student work first, teacher
  /// forwards into the gaps) for when real costs stray from the profiled ones. Dynamic needs
  /// every stage in this process.
  runtime::Dispatch dispatch = runtime::Dispatch::in_order;
  int segment_batches = 8;  ///< batches per generated schedule (a drain between segments)
  int frozen_lookahead = 1; ///< batches a frozen teacher's forwards may run ahead
  std::chrono::milliseconds watchdog{60000};  ///< a worker waiting longer reports what it waits on
  std::size_t mailbox_capacity = 0;  ///< messages per stage mailbox; 0 = enough for any schedule
  bool record_trace = true;
};

struct LossRecord {
  long batch = 0;
  double loss = 0.0;
};

/// One measured action: which worker, what, when (seconds since the pipeline was built).
struct MeasuredAction {
  schedule::Action action;  ///< batch is the global batch number
  double start = 0.0;
  double end = 0.0;
};

/// How a pipeline is spread over processes (MPI launch, replicas). The default runs every stage
/// in this process over an in-process transport. A launcher sets which stages run here, the
/// transport that reaches the others (kept across segments), and the collective hooks.
template <class Tensor, class GradientSlot = nn::ParamSlot>
struct Distribution {
  std::vector<int> local_stages;  ///< stages this process runs; empty = all
  std::shared_ptr<runtime::Transport<Tensor>> transport;  ///< null = in-process, per segment
  /// Called on a stage's gradients right before its OPT (data parallelism: average over the
  /// replicas of that stage).
  std::function<void(int stage, const std::vector<GradientSlot>& gradients)> reduce_gradients;
  /// Merges every process's part of a checkpoint into `content` (collective; called on every
  /// process by save()); only processes where it returns true write the file.
  std::function<bool(nn::SafetensorsContent& content)> gather_checkpoint;
};

template <class B>
class Pipeline {
 public:
  using Tensor = typename B::Tensor;
  using Ops = runtime::TensorOps<Tensor>;
  using Hooks = runtime::BackendHooks<B>;
  using Loss = typename Hooks::Loss;
  /// Makes one stage's optimizer (tspipe::OptimizerFactory for host backends).
  using OptimizerFactory = std::function<std::unique_ptr<typename Hooks::Optimizer>()>;
  using Distribution = tspipe::Distribution<Tensor, typename Hooks::StudentSlot>;
  using VersionCopies = typename Hooks::VersionCopies;

  /// Builds the pipeline: checks the options, profiles the blocks on a synthetic micro-batch
  /// (which also checks that their shapes chain), partitions teacher and student and places the
  /// stages. `student` may have more blocks than a momentum teacher: the extra ones (a predictor
  /// head) run on the last stage only.
  Pipeline(std::vector<nn::LayerPtr<B>> teacher, std::vector<nn::LayerPtr<B>> student, std::shared_ptr<const Loss> loss,
           OptimizerFactory make_optimizer, PipelineOptions options)
      : options_(std::move(options)), loss_(std::move(loss)), started_(std::chrono::steady_clock::now()) {
    check_options(teacher, student, make_optimizer);
    place_stages(std::move(teacher), std::move(student), make_optimizer);
    learning_rate_ = stages_.front()->optimizer->learning_rate();
    Hooks::finish_caller_work();  // profiling ran on this thread; the stage workers take over
  }

  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Queues one batch: `views[v]` holds view v of every sample ([batch_size, input_shape…]) and
  /// `labels` one class per sample (may be empty for self-supervised losses). Runs a segment when
  /// `segment_batches` are queued. Throws tspipe::Error on bad input or a failed segment.
  void feed(std::vector<Tensor> views, std::vector<int> labels = {}) {
    check_batch(views, labels);
    Hooks::finish_caller_work();  // the views (and anything else the caller wrote) are complete
    queued_.push_back({next_batch_++, std::move(views), std::move(labels), learning_rate_,
                       tau_override_ ? *tau_override_ : options_.teacher.tau.at(next_batch_ - 1)});
    if (static_cast<int>(queued_.size()) >= options_.segment_batches) run_segment();
  }

  /// Runs every queued batch to completion.
  void flush() {
    Hooks::finish_caller_work();
    if (!queued_.empty()) run_segment();
  }

  /// Every loss reported since the last call, in batch order (a pipeline answers late).
  std::vector<LossRecord> take_losses() {
    std::lock_guard lock(losses_mutex_);
    return std::exchange(losses_, {});
  }

  /// Learning rate for batches fed from now on.
  void set_learning_rate(double learning_rate) {
    if (!(learning_rate >= 0.0) || !std::isfinite(learning_rate))
      throw Error("Pipeline::set_learning_rate: " + std::to_string(learning_rate) + " must be finite and ≥ 0");
    learning_rate_ = learning_rate;
  }
  /// τ for batches fed from now on (overrides the policy's schedule).
  void set_tau(double tau) {
    if (!(tau >= 0.0 && tau <= 1.0)) throw Error("Pipeline::set_tau: τ = " + std::to_string(tau) + " must lie in [0, 1]");
    tau_override_ = tau;
  }

  /// Spreads the pipeline over processes (see Distribution); call before the first feed().
  void set_distribution(Distribution distribution) {
    if (options_.dispatch == runtime::Dispatch::dynamic && (distribution.transport || !distribution.local_stages.empty()))
      throw Error("Pipeline::set_distribution: dynamic dispatch reads every stage's progress, so it needs all stages in "
                  "this process; use Dispatch::in_order for a distributed launch");
    for (int s : distribution.local_stages)
      if (s < 0 || s >= stages()) throw Error("Pipeline::set_distribution: local stage " + std::to_string(s) + " outside [0, " + std::to_string(stages()) + ")");
    distribution_ = std::move(distribution);
  }
  bool runs_stage(int s) const {
    return distribution_.local_stages.empty() ||
           std::find(distribution_.local_stages.begin(), distribution_.local_stages.end(), s) != distribution_.local_stages.end();
  }

  long batches_fed() const { return next_batch_; }
  long batches_done() const { return done_batches_; }
  const partition::PartitionPlan& partition() const { return plan_; }
  const PipelineOptions& options() const { return options_; }
  int stages() const { return static_cast<int>(stages_.size()); }
  runtime::Stage<B>& stage(int s) { return *stages_.at(static_cast<std::size_t>(s)); }

  /// The measured trace: per stage, every action run so far with its start and end.
  const std::vector<std::vector<MeasuredAction>>& trace() const { return trace_; }
  /// The trace as simulator timelines (seconds), ready for sim::chrome_trace / svg_timeline.
  std::vector<std::vector<sim::TimedAction>> trace_timeline() const {
    std::vector<std::vector<sim::TimedAction>> out(trace_.size());
    for (std::size_t j = 0; j < trace_.size(); ++j)
      for (const auto& m : trace_[j]) out[j].push_back({m.action, m.start, m.end});
    return out;
  }

  /// The cost model of this pipeline from the profiled per-block costs (seconds per whole batch
  /// of one view), for the simulator's prediction.
  schedule::CostModel profiled_costs() const { return profiled_costs_; }
  /// Replaces the cost model, e.g. with rank 0's profile, so that every process of an MPI launch
  /// plans the same cost-aware schedule (each would otherwise plan with its own timings).
  void set_profiled_costs(const schedule::CostModel& costs) {
    if (static_cast<int>(costs.stages.size()) != stages())
      throw Error("Pipeline::set_profiled_costs: " + std::to_string(costs.stages.size()) + " stages, the pipeline has " +
                  std::to_string(stages()));
    profiled_costs_ = costs;
  }

  /// The workload of a segment of `batches` batches starting at global batch `first`.
  schedule::Workload workload(int batches, long first = 0) const {
    schedule::Workload w;
    w.stages = stages();
    w.micro_batches = options_.micro_batches;
    w.views = options_.views;
    w.batches = batches;
    w.teacher = options_.teacher.kind;
    w.staleness = options_.teacher.staleness;
    w.warmup = static_cast<int>(std::max(0L, options_.teacher.warmup - first));
    w.teacher_lookahead = options_.frozen_lookahead;
    w.split = options_.split;
    w.costs = profiled_costs_;
    w.choose_micro_batches = options_.choose_micro_batches;
    w.choose_split = options_.choose_split;
    w.max_micro_batches = static_cast<int>(std::min<long>(options_.batch_size, 8L * stages()));
    return w;
  }

  /// Every student parameter (all stages), for tests and checkpoints.
  std::vector<nn::Parameter<B>> student_parameters() {
    std::vector<nn::Parameter<B>> out;
    for (auto& s : stages_)
      for (auto& p : s->student.parameters()) out.push_back(p);
    return out;
  }
  std::vector<nn::Parameter<B>> teacher_parameters() {
    std::vector<nn::Parameter<B>> out;
    for (auto& s : stages_)
      for (auto& p : s->teacher.parameters()) out.push_back(p);
    return out;
  }
  /// The teacher version each stage has in its layers, and the others it holds.
  std::vector<std::vector<long>> teacher_versions_held() const {
    std::vector<std::vector<long>> out;
    for (const auto& s : stages_) out.push_back(s->versions.held());
    return out;
  }

  /// Runs `f` with stage s's teacher set to version r (as a teacher forward of a batch reading
  /// ξ_r would see it); for tests and inspection between segments.
  template <class F>
  void with_teacher_version(int s, long r, F&& f) {
    auto& st = stage(s);
    st.versions.activate(r, st.teacher_values);
    f(st.teacher);
  }

  /// Writes a checkpoint (student, teacher with every version held, optimizer state, step) as a
  /// safetensors file, atomically: a crash mid-save leaves the previous file intact.
  void save(const std::filesystem::path& path) {
    flush();
    nn::SafetensorsContent content;
    content.metadata["format"] = "tspipe-checkpoint-1";
    content.metadata["step"] = std::to_string(next_batch_);
    content.metadata["stages"] = std::to_string(stages());
    content.metadata["learning_rate"] = std::to_string(learning_rate_);
    const auto put = [&](const std::string& name, const Tensor& t) {
      const nn::Tensor host = Ops::to_host(t);
      std::vector<std::uint64_t> shape;
      for (auto d : t.shape()) shape.push_back(static_cast<std::uint64_t>(d));
      content.tensors[name] = nn::StoredTensor::from_f32(shape, host.span());
    };
    const auto put_vector = [&](const std::string& name, const std::vector<float>& values) {
      content.tensors[name] = nn::StoredTensor::from_f32({values.size()}, values);
    };
    for (auto& s : stages_) {
      if (!runs_stage(s->index)) continue;
      for (auto& p : s->student.parameters()) put("student." + p.name, *p.value);
      for (auto& b : s->student.buffers()) put("student." + b.name, *b.value);
      for (auto& p : s->teacher.parameters()) put("teacher." + p.name, *p.value);
      for (auto& b : s->teacher.buffers()) put("teacher." + b.name, *b.value);
      content.metadata["teacher_active." + std::to_string(s->index)] = std::to_string(s->versions.active());
      for (const auto& [version, values] : s->versions.saved())
        for (std::size_t i = 0; i < values.size(); ++i)
          put_vector("teacher@" + std::to_string(version) + "." + s->teacher_slots[i].name, VersionCopies::to_host(values[i]));
      for (const auto& [key, values] : s->optimizer->export_state()) put_vector("optimizer." + key, values);
    }
    const bool writer = distribution_.gather_checkpoint ? distribution_.gather_checkpoint(content) : true;
    if (writer) nn::save_safetensors(path, content);
  }

  /// Restores a checkpoint written by save() into this pipeline (built with the same models; the
  /// partition may differ). Continuing gives bit-identical results to the run that saved it.
  void load(const std::filesystem::path& path) {
    flush();
    const nn::SafetensorsContent content = nn::load_safetensors(path);
    const auto where = "checkpoint '" + path.string() + "': ";
    if (!content.metadata.count("format") || content.metadata.at("format") != "tspipe-checkpoint-1")
      throw Error(where + "not a tspipe checkpoint (metadata 'format' missing or unknown)");
    // Numbers in the metadata and tensor names, each failure naming the field.
    const auto number = [&](const std::string& text, const std::string& field) {
      long value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0)
        throw Error(where + field + " '" + text + "' is not a non-negative integer");
      return value;
    };
    const auto metadata = [&](const std::string& key) -> const std::string& {
      const auto it = content.metadata.find(key);
      if (it == content.metadata.end()) throw Error(where + "metadata '" + key + "' is missing");
      return it->second;
    };
    const auto take = [&](const std::string& name, Tensor& into) {
      const auto it = content.tensors.find(name);
      if (it == content.tensors.end()) throw Error(where + "has no tensor '" + name + "'");
      const auto values = it->second.to_f32();
      if (static_cast<long>(values.size()) != static_cast<long>(into.numel()))
        throw Error(where + "'" + name + "' has " + std::to_string(values.size()) + " values, the model " +
                    std::to_string(into.numel()));
      Ops::copy_from_host(into, values);
    };
    for (auto& s : stages_) {
      if (!runs_stage(s->index)) continue;
      for (auto& p : s->student.parameters()) take("student." + p.name, *p.value);
      for (auto& b : s->student.buffers()) take("student." + b.name, *b.value);
      for (auto& p : s->teacher.parameters()) take("teacher." + p.name, *p.value);
      for (auto& b : s->teacher.buffers()) take("teacher." + b.name, *b.value);
      const std::string active_key = "teacher_active." + std::to_string(s->index);
      const long active = number(metadata(active_key), "metadata " + active_key);
      std::map<long, typename runtime::Stage<B>::Versions::Values> saved;
      const std::string prefix = "teacher@";
      for (const auto& [name, stored] : content.tensors) {
        if (name.rfind(prefix, 0) != 0) continue;
        const auto dot = name.find('.');
        if (dot == std::string::npos) throw Error(where + "tensor name '" + name + "' lacks the parameter after the version");
        const long version = number(name.substr(prefix.size(), dot - prefix.size()), "teacher version in '" + name + "'");
        const std::string param = name.substr(dot + 1);
        for (std::size_t i = 0; i < s->teacher_slots.size(); ++i)
          if (s->teacher_slots[i].name == param) {
            auto& values = saved[version];
            values.resize(s->teacher_slots.size());
            values[i] = VersionCopies::from_host(stored.to_f32(), s->teacher_values[i]);
          }
      }
      s->versions.restore(active, std::move(saved));
      nn::OptimizerState state;
      for (const auto& [name, stored] : content.tensors)
        if (name.rfind("optimizer.", 0) == 0) {
          const std::string key = name.substr(10);
          for (const auto& slot : s->student_slots)
            if (key.rfind(slot.name + "/", 0) == 0) state[key] = stored.to_f32();
        }
      s->optimizer->import_state(std::move(state));
    }
    const long step = number(metadata("step"), "metadata step");
    double learning_rate = 0.0;
    const std::string& lr_text = metadata("learning_rate");
    const auto [lr_end, lr_ec] = std::from_chars(lr_text.data(), lr_text.data() + lr_text.size(), learning_rate);
    if (lr_ec != std::errc{} || lr_end != lr_text.data() + lr_text.size() || !(learning_rate >= 0.0))
      throw Error(where + "metadata learning_rate '" + lr_text + "' is not a non-negative number");
    next_batch_ = done_batches_ = step;
    learning_rate_ = learning_rate;
  }

  /// Predicted (simulator, profiled costs) against measured time per batch over the segments run
  /// so far, both in seconds.
  struct TimingReport {
    double predicted_time_per_batch = 0.0;
    double measured_time_per_batch = 0.0;
    double mean_action_overhead = 0.0;  ///< measured busy time not explained by profiled costs, per action
  };
  TimingReport timing_report() const { return timing_; }

 private:
  struct FedBatch {
    long index;
    std::vector<Tensor> views;
    std::vector<int> labels;
    double learning_rate;
    double tau;
  };

  void check_options(const std::vector<nn::LayerPtr<B>>& teacher, const std::vector<nn::LayerPtr<B>>& student,
                     const OptimizerFactory& make_optimizer) {
    const auto fail = [](const std::string& what) { throw Error("Pipeline: " + what); };
    const PipelineOptions& o = options_;
    if (o.stages < 1) fail("stages = " + std::to_string(o.stages) + " must be at least 1");
    if (o.micro_batches < 1) fail("micro_batches = " + std::to_string(o.micro_batches) + " must be at least 1");
    if (o.views < 1) fail("views = " + std::to_string(o.views) + " must be at least 1");
    if (o.batch_size < 1) fail("batch_size = " + std::to_string(o.batch_size) + " must be at least 1");
    if (o.micro_batches > o.batch_size)
      fail("micro_batches = " + std::to_string(o.micro_batches) + " is larger than the batch (" + std::to_string(o.batch_size) +
           " samples)");
    if (o.input_shape.empty()) fail("input_shape (one sample's shape, e.g. {3, 32, 32}) is required");
    if (o.segment_batches < 1) fail("segment_batches = " + std::to_string(o.segment_batches) + " must be at least 1");
    if (o.frozen_lookahead < 0) fail("frozen_lookahead must be ≥ 0");
    if (o.watchdog.count() <= 0) fail("watchdog must be positive");
    if (Status ok = o.teacher.check(); !ok) fail(ok.message());
    if (!loss_) fail("no loss given");
    if (!make_optimizer) fail("no optimizer factory given");
    if (teacher.empty()) fail("the teacher has no blocks");
    if (student.empty()) fail("the student has no blocks");
    for (std::size_t i = 0; i < teacher.size(); ++i)
      if (!teacher[i]) fail("teacher block " + std::to_string(i) + " is null");
    for (std::size_t i = 0; i < student.size(); ++i)
      if (!student[i]) fail("student block " + std::to_string(i) + " is null");
    if (static_cast<int>(teacher.size()) < o.stages || static_cast<int>(student.size()) < o.stages)
      fail(std::to_string(o.stages) + " stages but the teacher has " + std::to_string(teacher.size()) + " and the student " +
           std::to_string(student.size()) + " blocks (every stage needs at least one of each)");
    bool known = false;
    for (auto name : schedule::generator_names()) known = known || name == o.schedule;
    if (!known) {
      auto probe = schedule::generate(o.schedule, schedule::kd_workload(1));
      fail(probe.message());
    }
    if (o.schedule == "sequential" && o.micro_batches != 1)
      fail("the sequential schedule runs whole batches: micro_batches must be 1, got " + std::to_string(o.micro_batches));
  }

  void place_stages(std::vector<nn::LayerPtr<B>> teacher, std::vector<nn::LayerPtr<B>> student,
                    const OptimizerFactory& make_optimizer) {
    const PipelineOptions& o = options_;
    // Profile on one micro-batch-sized synthetic input; this also checks that shapes chain.
    nn::Shape sample_shape{runtime::micro_batch_rows(o.batch_size, o.micro_batches, 0).second};
    sample_shape.insert(sample_shape.end(), o.input_shape.begin(), o.input_shape.end());
    const Tensor sample = Ops::randn(sample_shape, 0x5eed);
    const auto teacher_costs = runtime::profile_blocks<B>(teacher, sample, /*student=*/false);
    const auto student_costs = runtime::profile_blocks<B>(student, sample, /*student=*/true);

    partition::PartitionRequest request;
    request.stages = o.stages;
    request.micro_batches_in_flight = o.micro_batches * o.views;
    request.teacher_versions = o.teacher.staleness + 1;
    request.memory_cap_bytes = o.memory_cap_bytes;
    request.shared_cuts = o.teacher.is_momentum();
    if (o.teacher_cuts.empty() != o.student_cuts.empty())
      throw Error("Pipeline: give both teacher_cuts and student_cuts, or neither (automatic partition)");
    if (o.teacher_cuts.empty()) {
      plan_ = partition::balance(teacher_costs, student_costs, request).value();
    } else {
      plan_.teacher_bounds = partition::bounds_from_cuts(o.teacher_cuts, static_cast<int>(teacher.size()), o.stages, "teacher").value();
      plan_.student_bounds = partition::bounds_from_cuts(o.student_cuts, static_cast<int>(student.size()), o.stages, "student").value();
      partition::evaluate_plan(plan_, teacher_costs, student_costs, request);
    }

    // The simulator's cost table: per stage, whole batch of one view = M micro-batches.
    profiled_costs_.stages.assign(static_cast<std::size_t>(o.stages), {});
    for (int s = 0; s < o.stages; ++s) {
      auto& c = profiled_costs_.stages[static_cast<std::size_t>(s)];
      c.teacher_forward = c.student_forward = c.student_backward = 0.0;
      for (int i = plan_.teacher_bounds[static_cast<std::size_t>(s)]; i < plan_.teacher_bounds[static_cast<std::size_t>(s) + 1]; ++i)
        c.teacher_forward += teacher_costs[static_cast<std::size_t>(i)].infer * o.micro_batches;
      for (int i = plan_.student_bounds[static_cast<std::size_t>(s)]; i < plan_.student_bounds[static_cast<std::size_t>(s) + 1]; ++i) {
        c.student_forward += student_costs[static_cast<std::size_t>(i)].forward * o.micro_batches;
        c.student_backward += student_costs[static_cast<std::size_t>(i)].backward * o.micro_batches;
        c.activation_memory += student_costs[static_cast<std::size_t>(i)].activation_bytes * o.micro_batches;
      }
    }

    for (int s = 0; s < o.stages; ++s) {
      auto stage = std::make_unique<runtime::Stage<B>>();
      stage->index = s;
      for (int i = plan_.teacher_bounds[static_cast<std::size_t>(s)]; i < plan_.teacher_bounds[static_cast<std::size_t>(s) + 1]; ++i)
        stage->teacher.add("", std::move(teacher[static_cast<std::size_t>(i)]));
      for (int i = plan_.student_bounds[static_cast<std::size_t>(s)]; i < plan_.student_bounds[static_cast<std::size_t>(s) + 1]; ++i)
        stage->student.add("", std::move(student[static_cast<std::size_t>(i)]));
      stage->teacher.set_training(o.teacher_uses_batch_statistics);
      stage->student.set_training(true);
      stage->optimizer = make_optimizer();
      if (!stage->optimizer) throw Error("Pipeline: the optimizer factory returned null");
      stage->versions = typename runtime::Stage<B>::Versions(s, o.teacher.staleness + 1);
      stage->bind_parameters(o.teacher.is_momentum());
      stages_.push_back(std::move(stage));
    }
    trace_.resize(static_cast<std::size_t>(o.stages));
    // Reject a schedule that cannot run this shape now, not at the first segment.
    if (auto probe = schedule::generate(o.schedule, workload(2)); !probe) throw Error("Pipeline: " + probe.message());
  }

  void check_batch(const std::vector<Tensor>& views, const std::vector<int>& labels) const {
    const auto fail = [&](const std::string& what) {
      throw Error("Pipeline::feed (batch " + std::to_string(next_batch_) + "): " + what);
    };
    if (static_cast<int>(views.size()) != options_.views)
      fail("got " + std::to_string(views.size()) + " views, the pipeline has " + std::to_string(options_.views));
    nn::Shape expected{options_.batch_size};
    expected.insert(expected.end(), options_.input_shape.begin(), options_.input_shape.end());
    for (std::size_t v = 0; v < views.size(); ++v)
      if (views[v].shape() != expected)
        fail("view " + std::to_string(v) + " has shape " + Ops::shape(views[v]) + ", expected " + nn::to_string(expected));
    if (!labels.empty() && static_cast<long>(labels.size()) != options_.batch_size)
      fail(std::to_string(labels.size()) + " labels for " + std::to_string(options_.batch_size) + " samples");
  }

  // ---- one segment --------------------------------------------------------------------------

  void run_segment() {
    std::vector<FedBatch> batches = std::exchange(queued_, {});
    const long first = batches.front().index;
    const schedule::Workload w = workload(static_cast<int>(batches.size()), first);
    auto generated = schedule::generate(options_.schedule, w);
    if (!generated) throw Error("Pipeline: " + generated.message());
    const auto violations = schedule::validate(generated.value().schedule, generated.value().workload, 3);
    if (!violations.empty())
      throw Error("Pipeline: the " + options_.schedule + " schedule is invalid: " + schedule::to_string(violations.front()));
    const schedule::Workload& run_w = generated.value().workload;

    std::size_t capacity = options_.mailbox_capacity;
    if (capacity == 0)  // every message of a segment fits: no schedule can block on a full mailbox
      capacity = static_cast<std::size_t>(2 * run_w.views * run_w.backward_slices() * run_w.batches) + 8;
    std::shared_ptr<runtime::Transport<Tensor>> transport_holder = distribution_.transport;
    if (!transport_holder) transport_holder = Hooks::local_transport(stages(), capacity);
    runtime::Transport<Tensor>& transport = *transport_holder;
    std::mutex error_mutex;
    std::string first_error;
    runtime::ActionDispatcher dispatcher(generated.value().schedule, run_w, options_.dispatch);
    const auto fail = [&](const std::string& message) {
      {
        std::lock_guard lock(error_mutex);
        if (first_error.empty()) first_error = message;
      }
      transport.stop(message);
      dispatcher.stop();
    };

    const auto segment_start = std::chrono::steady_clock::now();
    {
      std::vector<std::jthread> workers;
      for (int j = 0; j < stages(); ++j) {
        if (!runs_stage(j)) continue;
        workers.emplace_back([&, j] {
          runtime::Stage<B>& stage = *stages_[static_cast<std::size_t>(j)];
          for (;;) {
            auto next = dispatcher.next(j, options_.watchdog);
            if (!next) {
              fail("stage " + std::to_string(j) + ": " + next.message());
              return;
            }
            if (!next.value()) return;  // list done, or another worker failed
            const schedule::Action local = *next.value();
            schedule::Action a = local;
            a.batch = static_cast<int>(first + local.batch);
            const auto t0 = std::chrono::steady_clock::now();
            try {
              execute(stage, a, batches[static_cast<std::size_t>(local.batch)], run_w, transport);
            } catch (const std::exception& e) {
              fail("stage " + std::to_string(j) + ", " + schedule::to_token(a) + ": " + e.what());
              return;
            }
            dispatcher.finished(local);
            if (options_.record_trace)
              trace_[static_cast<std::size_t>(j)].push_back({a, seconds_since_start(t0), seconds_since_start(std::chrono::steady_clock::now())});
          }
        });
      }
    }
    for (auto& s : stages_) s->clear_work();
    if (!first_error.empty()) {
      // The pipeline cannot continue consistently after a failed segment.
      throw Error("Pipeline: " + first_error);
    }
    done_batches_ = first + static_cast<long>(batches.size());
    update_timing(generated.value(), std::chrono::duration<double>(std::chrono::steady_clock::now() - segment_start).count(),
                  static_cast<long>(batches.size()));
  }

  double seconds_since_start(std::chrono::steady_clock::time_point t) const {
    return std::chrono::duration<double>(t - started_).count();
  }

  Tensor input_slice(const FedBatch& batch, int view, int micro_batch, int micro_batches) const {
    const auto [begin, count] = runtime::micro_batch_rows(options_.batch_size, micro_batches, micro_batch);
    return Ops::slice_rows(batch.views[static_cast<std::size_t>(view)], begin, count);
  }

  Tensor receive(runtime::Transport<Tensor>& transport, int at, schedule::ActionKind consumer, const runtime::SliceKey& k) {
    auto received = transport.receive(at, {consumer, k.batch, k.view, k.micro_batch}, options_.watchdog);
    if (!received) throw Error(received.message());
    return std::move(received).value();
  }
  void send(runtime::Transport<Tensor>& transport, int to, schedule::ActionKind consumer, const runtime::SliceKey& k, Tensor t) {
    Status sent = transport.send(to, {consumer, k.batch, k.view, k.micro_batch}, std::move(t), options_.watchdog);
    if (!sent) throw Error(sent.message());
  }

  void execute(runtime::Stage<B>& st, const schedule::Action& a, const FedBatch& batch, const schedule::Workload& w,
               runtime::Transport<Tensor>& transport) {
    using schedule::ActionKind;
    [[maybe_unused]] const auto scope = st.hooks.enter();  // the stage's device and stream, if any
    const int s = st.index, last = stages() - 1;
    const long g = a.batch;
    const bool halves = w.split == schedule::BackwardSplit::halves;
    const runtime::SliceKey key{g, a.view, halves && schedule::is_student_backward(a.kind) ? a.micro_batch / 2 : a.micro_batch};
    switch (a.kind) {
      case ActionKind::TeacherForward: {
        Tensor x = s == 0 ? input_slice(batch, a.view, a.micro_batch, w.micro_batches) : receive(transport, s, a.kind, key);
        st.versions.activate(options_.teacher.version_read(g), st.teacher_values);
        Tensor y = st.teacher.infer(x);
        if (s < last) send(transport, s + 1, a.kind, key, std::move(y));
        else st.teacher_outputs[key] = std::move(y);
        return;
      }
      case ActionKind::StudentForward: {
        Tensor x = s == 0 ? input_slice(batch, a.view, a.micro_batch, w.micro_batches) : receive(transport, s, a.kind, key);
        auto [y, ctx] = st.student.forward(x);
        st.contexts[key] = std::move(ctx);
        if (s < last) send(transport, s + 1, a.kind, key, std::move(y));
        else st.student_outputs[key] = std::move(y);
        return;
      }
      case ActionKind::Loss:
        compute_loss(st, g, batch, w.micro_batches);
        return;
      case ActionKind::StudentBackward:
      case ActionKind::BackwardInput: {
        // The reference's backward halves: the slice's whole backward runs at its first half,
        // the second half has nothing left to do (same data flow, coarser timing).
        if (halves && st.backward_done.erase(key)) return;
        Tensor dy = s == last ? take(st.loss_gradients, key, "loss gradient") : receive(transport, s, a.kind, key);
        auto ctx = st.contexts.find(key);
        if (ctx == st.contexts.end()) throw Error("no saved forward for this slice");
        Tensor dx;
        if (a.kind == ActionKind::BackwardInput) {
          dx = st.student.backward_input(ctx->second, dy);
          st.weight_grad_inputs[key] = std::move(dy);
        } else {
          dx = st.student.backward(ctx->second, dy);
          st.contexts.erase(ctx);
          if (halves) st.backward_done.insert(key);
        }
        if (s > 0) send(transport, s - 1, a.kind, key, std::move(dx));
        return;
      }
      case ActionKind::BackwardWeight: {
        auto ctx = st.contexts.find(key);
        if (ctx == st.contexts.end()) throw Error("no saved forward for this slice");
        Tensor dy = take(st.weight_grad_inputs, key, "output gradient from BI");
        st.student.backward_weight(ctx->second, dy);
        st.contexts.erase(ctx);
        return;
      }
      case ActionKind::Optimizer:
        if (distribution_.reduce_gradients) distribution_.reduce_gradients(s, st.student_slots);
        st.optimizer->set_learning_rate(batch.learning_rate);
        st.optimizer->step(st.student_slots);
        st.student.zero_grad();
        return;
      case ActionKind::Ema:
        update_teacher(st, g, batch.tau);
        return;
    }
  }

  static Tensor take(std::map<runtime::SliceKey, Tensor>& from, const runtime::SliceKey& key, const char* what) {
    auto it = from.find(key);
    if (it == from.end()) throw Error(std::string("missing ") + what);
    Tensor t = std::move(it->second);
    from.erase(it);
    return t;
  }

  void compute_loss(runtime::Stage<B>& st, long g, const FedBatch& batch, int M) {
    const int V = options_.views;
    std::vector<Tensor> student(static_cast<std::size_t>(V)), teacher(static_cast<std::size_t>(V));
    for (int v = 0; v < V; ++v) {
      std::vector<Tensor> s_parts, t_parts;
      for (int u = 0; u < M; ++u) {
        s_parts.push_back(take(st.student_outputs, {g, v, u}, "student output"));
        t_parts.push_back(take(st.teacher_outputs, {g, v, u}, "teacher output"));
      }
      student[static_cast<std::size_t>(v)] = Ops::concat_rows(s_parts);
      teacher[static_cast<std::size_t>(v)] = Ops::concat_rows(t_parts);
    }
    const runtime::BatchLoss<Tensor> out = st.hooks.loss(*loss_, student, teacher, batch.labels);
    if (!std::isfinite(out.loss)) throw Error("the loss of batch " + std::to_string(g) + " is " + std::to_string(out.loss));
    for (int v = 0; v < V; ++v)
      for (int u = 0; u < M; ++u) {
        const auto [begin, count] = runtime::micro_batch_rows(options_.batch_size, M, u);
        st.loss_gradients[{g, v, u}] = Ops::slice_rows(out.d_student[static_cast<std::size_t>(v)], begin, count);
      }
    std::lock_guard lock(losses_mutex_);
    losses_.push_back({g, out.loss});
  }

  void update_teacher(runtime::Stage<B>& st, long g, double tau) {
    st.versions.before_update(g, st.teacher_values);
    st.hooks.momentum_update(st.teacher_slots, st.ema_student_slots, static_cast<float>(tau));
    if (options_.teacher.buffers != update::TeacherBuffers::keep) {
      auto teacher_buffers = st.teacher.buffers();
      auto student_buffers = st.student.buffers();
      std::vector<std::pair<Tensor*, const Tensor*>> pairs;  // same-named buffers
      for (auto& tb : teacher_buffers)
        for (auto& sb : student_buffers)
          if (tb.name == sb.name) pairs.emplace_back(tb.value, sb.value);
      const float keep = options_.teacher.buffers == update::TeacherBuffers::average ? static_cast<float>(tau) : 0.0f;
      st.hooks.blend_buffers(pairs, keep);
    }
    st.versions.updated(g + 1);
  }

  void update_timing(const schedule::Generated& generated, double elapsed, long batches) {
    measured_seconds_ += elapsed;
    measured_batches_ += batches;
    auto predicted = sim::simulate(generated.schedule, generated.workload);
    if (predicted) predicted_seconds_ += predicted.value().makespan;
    timing_.predicted_time_per_batch = predicted_seconds_ / static_cast<double>(measured_batches_);
    timing_.measured_time_per_batch = measured_seconds_ / static_cast<double>(measured_batches_);
    double busy = 0.0;
    std::size_t actions = 0;
    for (const auto& device : trace_)
      for (const auto& m : device) {
        busy += m.end - m.start;
        ++actions;
      }
    const double modelled = sim::serial_time_per_batch(generated.workload) * static_cast<double>(measured_batches_);
    if (actions) timing_.mean_action_overhead = std::max(0.0, busy - modelled) / static_cast<double>(actions);
    // Calibrate the cost model with what an action really costs beyond its profiled compute, so
    // a schedule that chooses M does not pick more micro-batches than pay off. Not under a
    // distributed launch, where every process must keep planning with the same costs.
    if (!distribution_.transport) profiled_costs_.per_action_overhead = timing_.mean_action_overhead;
  }

  PipelineOptions options_;
  Distribution distribution_;
  std::shared_ptr<const Loss> loss_;
  std::chrono::steady_clock::time_point started_;
  std::vector<std::unique_ptr<runtime::Stage<B>>> stages_;
  partition::PartitionPlan plan_;
  schedule::CostModel profiled_costs_;

  std::vector<FedBatch> queued_;
  long next_batch_ = 0;
  long done_batches_ = 0;
  double learning_rate_ = 0.0;
  std::optional<double> tau_override_;

  std::mutex losses_mutex_;
  std::vector<LossRecord> losses_;
  std::vector<std::vector<MeasuredAction>> trace_;
  double measured_seconds_ = 0.0, predicted_seconds_ = 0.0;
  long measured_batches_ = 0;
  TimingReport timing_;
};

}  // namespace tspipe
