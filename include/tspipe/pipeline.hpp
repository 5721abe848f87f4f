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
// thread per device runs its list (strictly in order, or dynamically: see runtime/dispatch.hpp),
// exchanging activations and gradients through an in-process transport. With options.chunks = v
// the model is cut into S·v logical stages and a device runs v of them (docs/design.md §2.9).
// Teacher versions, the optimizer state and the step count carry across segments, so segmenting
// changes timing (a drain every segment), never results.
//
// The parts live in pipeline/: options.hpp (what a pipeline is built from), placement.hpp
// (checks, profiling, partition, stages), segment_plan.hpp (each segment's validated schedule,
// planned from a cost model fixed for the run), segment_executor.hpp (one segment on the
// workers), checkpoint.hpp and plan_metadata.hpp (save/load content with the plan, checked before
// anything is copied), trace.hpp and timing.hpp (a window of recent actions; running sums),
// backend_types.hpp (the backend's types that Pipeline and its parts all name).
// Nothing a pipeline keeps grows with the batches trained, as long as the caller takes its losses.
//
// Backends: what differs between host and device tensors (the loss and optimizer types, parameter
// views, teacher version copies, a stage's stream) comes from runtime::BackendHooks<Backend>. For
// the CPU backend these are nn::Loss and nn::Optimizer; for Pipeline<cuda::Backend> include
// <tspipe/cuda/pipeline.hpp> (device losses and optimizers, one stream per stage).
#include <tspipe/nn/losses.hpp>
#include <tspipe/pipeline/backend_types.hpp>
#include <tspipe/pipeline/checkpoint.hpp>
#include <tspipe/pipeline/options.hpp>
#include <tspipe/pipeline/placement.hpp>
#include <tspipe/pipeline/plan_metadata.hpp>
#include <tspipe/pipeline/segment_executor.hpp>
#include <tspipe/pipeline/segment_plan.hpp>
#include <tspipe/pipeline/timing.hpp>
#include <tspipe/pipeline/trace.hpp>
#include <tspipe/planning/generate.hpp>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tspipe {

template <class B>
class Pipeline : public BackendTypes<B> {
 public:
  // Tensor, Ops, Loss, OptimizerFactory, Distribution, … (pipeline/backend_types.hpp).
  using typename BackendTypes<B>::Tensor, typename BackendTypes<B>::Hooks, typename BackendTypes<B>::Loss;
  using typename BackendTypes<B>::OptimizerFactory, typename BackendTypes<B>::Distribution;
  using TimingReport = tspipe::TimingReport;

  /// Builds the pipeline: checks the options, profiles the blocks on a synthetic micro-batch
  /// (which also checks that their shapes chain), partitions teacher and student and places the
  /// stages. `student` may have more blocks than a momentum teacher: the extra ones (a predictor
  /// head) run on the last stage only.
  Pipeline(std::vector<nn::LayerPtr<B>> teacher, std::vector<nn::LayerPtr<B>> student, std::shared_ptr<const Loss> loss,
           OptimizerFactory make_optimizer, PipelineOptions options)
      : options_(std::move(options)), loss_(std::move(loss)), started_(std::chrono::steady_clock::now()) {
    check_pipeline_options<B>(options_, teacher, student, loss_ != nullptr, static_cast<bool>(make_optimizer));
    options_.loss_granularity = resolved_loss_granularity(options_.loss_granularity, *loss_, "Pipeline: ");
    PlacedStages<B> placed = place_stages<B>(options_, std::move(teacher), std::move(student), make_optimizer);
    stages_ = std::move(placed.stages);
    plan_ = std::move(placed.plan);
    profiled_costs_ = std::move(placed.profiled_costs);
    make_optimizer_ = std::move(make_optimizer);
    trace_ = TraceWindow(devices(), options_.record_trace ? options_.trace_segments : 0);
    // Reject a schedule that cannot run this shape now, not at the first segment.
    if (auto probe = planning::generate(options_.schedule, workload(2)); !probe) throw Error("Pipeline: " + probe.message());
    learning_rate_ = stages_.front()->optimizer->learning_rate();
    Hooks::finish_caller_work();  // profiling ran on this thread; the stage workers take over
  }

  Pipeline(const Pipeline&) = delete;
  Pipeline& operator=(const Pipeline&) = delete;

  /// Queues one batch: `views[v]` holds view v of every sample ([batch_size, input_shape…]) and
  /// `labels` one class per sample (may be empty for self-supervised losses). Runs a segment when
  /// `segment_batches` are queued. Throws tspipe::Error on bad input or a failed segment.
  void feed(std::vector<Tensor> views, std::vector<int> labels = {}) {
    check_fed_batch<B>(options_, views, labels, next_batch_);
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
    check_distribution(options_, distribution, stages());
    distribution_ = std::move(distribution);
  }
  bool runs_stage(int s) const { return distribution_.runs_stage(s); }

  long batches_fed() const { return next_batch_; }
  long batches_done() const { return done_batches_; }
  const partition::PartitionPlan& partition() const { return plan_; }
  const PipelineOptions& options() const { return options_; }
  /// The model's stages (logical: devices × chunks), each a runtime::Stage; devices run workers.
  int stages() const { return static_cast<int>(stages_.size()); }
  int devices() const { return options_.stages; }
  runtime::Stage<B>& stage(int s) { return *stages_.at(static_cast<std::size_t>(s)); }

  /// The measured trace: per device, every action of the last `trace_segments` segments with its
  /// start and end (empty without record_trace).
  const MeasuredTrace& trace() const { return trace_.actions(); }
  /// The trace as simulator timelines (seconds), ready for sim::chrome_trace / svg_timeline.
  std::vector<std::vector<sim::TimedAction>> trace_timeline() const { return to_timeline(trace_.actions()); }

  /// The cost model the pipeline plans with (seconds per whole batch of one view): profiled when
  /// it was built, or as set_profiled_costs or load left it.
  schedule::CostModel profiled_costs() const { return profiled_costs_; }
  /// Replaces the cost model, e.g. with rank 0's profile, so that every process of an MPI launch
  /// plans the same cost-aware schedule (each would otherwise plan with its own timings).
  void set_profiled_costs(const schedule::CostModel& costs) {
    if (static_cast<int>(costs.stages.size()) != stages())
      throw Error("Pipeline::set_profiled_costs: " + std::to_string(costs.stages.size()) + " stages, the pipeline has " +
                  std::to_string(stages()));
    schedule::Workload w = workload(1);
    w.costs = costs;
    if (Status ok = w.check(); !ok) throw Error("Pipeline::set_profiled_costs: " + ok.message());
    profiled_costs_ = costs;
    planner_.forget();
  }

  /// The workload of a segment of `batches` batches starting at global batch `first`.
  schedule::Workload workload(int batches, long first = 0) const {
    return segment_workload(options_, profiled_costs_, devices(), batches, first);
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

  /// Writes a checkpoint (student, teacher with every version held, optimizer state, step, and
  /// the plan: options, partition, cost model) as a safetensors file, atomically: a crash
  /// mid-save leaves the previous file intact.
  void save(const std::filesystem::path& path) {
    flush();
    nn::SafetensorsContent content = checkpoint().save({next_batch_, learning_rate_});
    write_plan(content.metadata, options_, plan_, profiled_costs_);
    const bool writer = distribution_.gather_checkpoint ? distribution_.gather_checkpoint(content) : true;
    if (writer) nn::save_safetensors(path, content);
  }

  /// Restores a checkpoint written by save() into this pipeline (built with the same models; the
  /// partition may differ). The plan options come back with it, and the cost model too when the
  /// partition is the same, so continuing runs the saving run's schedules and gives bit-identical
  /// results. Throws Error naming every tensor that does not fit (name, dtype, shape, teacher
  /// versions, optimizer state) or the metadata field at fault; the pipeline is unchanged then.
  void load(const std::filesystem::path& path) {
    flush();
    const nn::SafetensorsContent content = nn::load_safetensors(path, nn::Checksums::required);
    const std::string where = "checkpoint '" + path.string() + "': ";
    check_saved_chunks(content.metadata, where, options_);  // before the per-stage checks trip on it
    PipelineCheckpoint<B> checkpoint = this->checkpoint();
    const auto restore = checkpoint.check(content, path.string());
    RestoredPlan plan = read_plan(content.metadata, where, options_, plan_, profiled_costs_, restore.position.step);
    resolved_loss_granularity(plan.options.loss_granularity, *loss_, where);
    checkpoint.apply(restore);
    options_ = std::move(plan.options);
    profiled_costs_ = std::move(plan.costs);
    planner_.forget();
    next_batch_ = done_batches_ = restore.position.step;
    learning_rate_ = restore.position.learning_rate;
  }

  /// Predicted (simulator, profiled costs) against measured time per batch over the segments run
  /// so far, both in seconds.
  TimingReport timing_report() const { return timing_.report(); }

 private:
  PipelineCheckpoint<B> checkpoint() {
    return PipelineCheckpoint<B>(stages_, [this](int s) { return runs_stage(s); }, make_optimizer_);
  }

  /// Runs the queued batches on their segment's plan, then updates the timing report.
  void run_segment() {
    std::vector<FedBatch<Tensor>> batches = std::exchange(queued_, {});
    const long first = batches.front().index;
    const schedule::Generated& generated = planner_.plan(options_, profiled_costs_, devices(), static_cast<int>(batches.size()), first);
    const auto segment_start = std::chrono::steady_clock::now();
    trace_.begin_segment();
    timing_.begin_segment(devices());
    SegmentExecutor<B> executor(options_, distribution_, *loss_, stages_, started_);
    executor.run(
        generated, batches,
        [this](long batch, double loss) {
          std::lock_guard lock(losses_mutex_);
          losses_.push_back({batch, loss});
        },
        [this](int stage, const MeasuredAction& measured) {
          timing_.record(stage, measured);
          trace_.record(stage, measured);
        });
    done_batches_ = first + static_cast<long>(batches.size());
    timing_.end_segment(generated, std::chrono::duration<double>(std::chrono::steady_clock::now() - segment_start).count(),
                        static_cast<long>(batches.size()));
    // Asked for: plan with what an action really costs beyond its profiled compute, so that a
    // schedule choosing M does not pick more micro-batches than pay off. Never under a distributed
    // launch, where every process must keep planning with the same costs.
    const double overhead = timing_.report().mean_action_overhead;
    if (options_.calibrate_costs && !distribution_.transport && overhead != profiled_costs_.per_action_overhead) {
      profiled_costs_.per_action_overhead = overhead;
      planner_.forget();
    }
  }

  PipelineOptions options_;
  Distribution distribution_;
  std::shared_ptr<const Loss> loss_;
  std::chrono::steady_clock::time_point started_;
  std::vector<std::unique_ptr<runtime::Stage<B>>> stages_;
  partition::PartitionPlan plan_;
  schedule::CostModel profiled_costs_;
  OptimizerFactory make_optimizer_;
  SegmentPlanner planner_;

  std::vector<FedBatch<Tensor>> queued_;
  long next_batch_ = 0;
  long done_batches_ = 0;
  double learning_rate_ = 0.0;
  std::optional<double> tau_override_;

  std::mutex losses_mutex_;
  std::vector<LossRecord> losses_;
  TraceWindow trace_{0, 0};
  TimingAccumulator timing_;
};

}  // namespace tspipe
