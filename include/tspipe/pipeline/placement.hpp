#pragma once
// Building a pipeline: the checks of its options, profiling the blocks on a synthetic
// micro-batch (which also checks that their shapes chain), partitioning teacher and student, the
// cost model the planner schedules with, and the stages placed from the partition.
#include <tspipe/nn/layer.hpp>
#include <tspipe/partition/partitioner.hpp>
#include <tspipe/pipeline/options.hpp>
#include <tspipe/pipeline/segment_plan.hpp>
#include <tspipe/planning/generate.hpp>
#include <tspipe/runtime/backend_hooks.hpp>
#include <tspipe/runtime/profile.hpp>
#include <tspipe/runtime/stage.hpp>
#include <tspipe/runtime/tensor_ops.hpp>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tspipe {

/// Throws Error("Pipeline: …") naming the first problem of the options and the blocks.
template <class B>
void check_pipeline_options(const PipelineOptions& o, const std::vector<nn::LayerPtr<B>>& teacher,
                            const std::vector<nn::LayerPtr<B>>& student, bool has_loss, bool has_optimizer_factory) {
  const auto fail = [](const std::string& what) { throw Error("Pipeline: " + what); };
  if (o.stages < 1) fail("stages = " + std::to_string(o.stages) + " must be at least 1");
  if (o.micro_batches < 1) fail("micro_batches = " + std::to_string(o.micro_batches) + " must be at least 1");
  if (o.chunks < 1) fail("chunks = " + std::to_string(o.chunks) + " must be at least 1 (model chunks per device)");
  if (o.chunk_placement != schedule::ChunkPlacement::interleaved && o.chunk_placement != schedule::ChunkPlacement::v_shape)
    fail("chunk_placement = " + std::to_string(static_cast<int>(o.chunk_placement)) + " is neither interleaved nor v_shape");
  if (o.chunk_placement == schedule::ChunkPlacement::v_shape && o.chunks != 2)
    fail("chunk_placement = v-shape holds 2 chunks per device, got chunks = " + std::to_string(o.chunks));
  if (o.chunks > schedule::kMaxStages / o.stages)
    fail(std::to_string(o.stages) + " stages × chunks = " + std::to_string(o.chunks) + " exceed the " +
         std::to_string(schedule::kMaxStages) + " logical stages a schedule can hold");
  if (o.views < 1) fail("views = " + std::to_string(o.views) + " must be at least 1");
  if (o.batch_size < 1) fail("batch_size = " + std::to_string(o.batch_size) + " must be at least 1");
  if (o.micro_batches > o.batch_size)
    fail("micro_batches = " + std::to_string(o.micro_batches) + " is larger than the batch (" + std::to_string(o.batch_size) +
         " samples)");
  if (o.input_shape.empty()) fail("input_shape (one sample's shape, e.g. {3, 32, 32}) is required");
  if (o.segment_batches < 1) fail("segment_batches = " + std::to_string(o.segment_batches) + " must be at least 1");
  if (o.trace_segments < 0) fail("trace_segments = " + std::to_string(o.trace_segments) + " must be ≥ 0 (0 keeps no trace)");
  if (o.frozen_lookahead < 0) fail("frozen_lookahead must be ≥ 0");
  if (o.watchdog.count() <= 0) fail("watchdog must be positive");
  if (Status ok = o.teacher.check(); !ok) fail(ok.message());
  if (!has_loss) fail("no loss given");
  if (!has_optimizer_factory) fail("no optimizer factory given");
  if (teacher.empty()) fail("the teacher has no blocks");
  if (student.empty()) fail("the student has no blocks");
  for (std::size_t i = 0; i < teacher.size(); ++i)
    if (!teacher[i]) fail("teacher block " + std::to_string(i) + " is null");
  for (std::size_t i = 0; i < student.size(); ++i)
    if (!student[i]) fail("student block " + std::to_string(i) + " is null");
  const int logical = o.logical_stages();
  if (static_cast<int>(teacher.size()) < logical || static_cast<int>(student.size()) < logical)
    fail(std::to_string(o.stages) + " stages" + (o.chunks > 1 ? " × " + std::to_string(o.chunks) + " chunks" : std::string()) +
         " but the teacher has " + std::to_string(teacher.size()) + " and the student " + std::to_string(student.size()) +
         " blocks (every " + (o.chunks > 1 ? "chunk" : "stage") + " needs at least one of each)");
  if (Status runs = check_schedule_chunks(o.schedule, o.chunks, o.chunk_placement); !runs) fail(runs.message());
  if (o.schedule == "sequential" && o.micro_batches != 1)
    fail("the sequential schedule runs whole batches: micro_batches must be 1, got " + std::to_string(o.micro_batches));
}

/// How often a pipeline with `loss` runs it: `automatic` becomes per micro-batch when the loss is
/// per-sample, whole batch otherwise. Throws Error(`where` …) naming the loss when a per-micro-batch
/// loss is asked of a loss that is not per-sample.
template <class Loss>
LossGranularity resolved_loss_granularity(LossGranularity asked, const Loss& loss, const std::string& where) {
  if (asked == LossGranularity::automatic) return loss.per_sample() ? LossGranularity::micro_batch : LossGranularity::whole_batch;
  if (asked == LossGranularity::micro_batch && !loss.per_sample())
    throw Error(where + "a per-micro-batch loss (loss_granularity = micro-batch) needs a loss that is a mean of per-sample "
                "terms, and the " + std::string(loss.name()) + " is not (it compares samples across the batch): use "
                "LossGranularity::automatic or whole_batch");
  return asked;
}

/// Throws Error("Pipeline::feed (batch <index>): …") unless `views` and `labels` make one batch.
template <class B>
void check_fed_batch(const PipelineOptions& o, const std::vector<typename B::Tensor>& views, const std::vector<int>& labels,
                     long index) {
  const auto fail = [&](const std::string& what) { throw Error("Pipeline::feed (batch " + std::to_string(index) + "): " + what); };
  if (static_cast<int>(views.size()) != o.views)
    fail("got " + std::to_string(views.size()) + " views, the pipeline has " + std::to_string(o.views));
  nn::Shape expected{o.batch_size};
  expected.insert(expected.end(), o.input_shape.begin(), o.input_shape.end());
  for (std::size_t v = 0; v < views.size(); ++v)
    if (views[v].shape() != expected)
      fail("view " + std::to_string(v) + " has shape " + runtime::TensorOps<typename B::Tensor>::shape(views[v]) + ", expected " +
           nn::to_string(expected));
  if (!labels.empty() && static_cast<long>(labels.size()) != o.batch_size)
    fail(std::to_string(labels.size()) + " labels for " + std::to_string(o.batch_size) + " samples");
}

/// The stages of a pipeline, where its blocks went, and the cost model to plan with.
template <class B>
struct PlacedStages {
  std::vector<std::unique_ptr<runtime::Stage<B>>> stages;
  partition::PartitionPlan plan;
  schedule::CostModel profiled_costs;  ///< per stage, seconds per whole batch of one view
};

/// Profiles, partitions and places the blocks (checked by check_pipeline_options).
template <class B, class OptimizerFactory>
PlacedStages<B> place_stages(const PipelineOptions& o, std::vector<nn::LayerPtr<B>> teacher, std::vector<nn::LayerPtr<B>> student,
                             const OptimizerFactory& make_optimizer) {
  using Tensor = typename B::Tensor;
  using Ops = runtime::TensorOps<Tensor>;
  PlacedStages<B> placed;
  // Profile on one micro-batch-sized synthetic input; this also checks that shapes chain.
  nn::Shape sample_shape{runtime::micro_batch_rows(o.batch_size, o.micro_batches, 0).second};
  sample_shape.insert(sample_shape.end(), o.input_shape.begin(), o.input_shape.end());
  const Tensor sample = Ops::randn(sample_shape, 0x5eed);
  const auto teacher_costs = runtime::profile_blocks<B>(teacher, sample, /*student=*/false);
  const auto student_costs = runtime::profile_blocks<B>(student, sample, /*student=*/true);

  partition::PartitionRequest request;
  // One part per logical stage. A device holds its chunks' memory together, so each chunk gets
  // 1/v of the cap: the parts of a device then fit the cap whatever the placement.
  const int logical = o.logical_stages();
  request.stages = logical;
  request.micro_batches_in_flight = o.micro_batches * o.views;
  request.teacher_versions = o.teacher.staleness + 1;
  request.memory_cap_bytes = o.memory_cap_bytes / o.chunks;
  request.shared_cuts = o.teacher.is_momentum();
  partition::PartitionPlan& plan = placed.plan;
  if (o.teacher_cuts.empty() != o.student_cuts.empty())
    throw Error("Pipeline: give both teacher_cuts and student_cuts, or neither (automatic partition)");
  if (o.teacher_cuts.empty()) {
    plan = partition::balance(teacher_costs, student_costs, request).value();
  } else {
    plan.teacher_bounds = partition::bounds_from_cuts(o.teacher_cuts, static_cast<int>(teacher.size()), logical, "teacher").value();
    plan.student_bounds = partition::bounds_from_cuts(o.student_cuts, static_cast<int>(student.size()), logical, "student").value();
    partition::evaluate_plan(plan, teacher_costs, student_costs, request);
  }
  const auto blocks_of = [](const std::vector<int>& bounds, int s) {
    return std::pair{bounds[static_cast<std::size_t>(s)], bounds[static_cast<std::size_t>(s) + 1]};
  };

  // The simulator's cost table: per logical stage, whole batch of one view = M micro-batches.
  placed.profiled_costs.stages.assign(static_cast<std::size_t>(logical), {});
  for (int s = 0; s < logical; ++s) {
    auto& c = placed.profiled_costs.stages[static_cast<std::size_t>(s)];
    c.teacher_forward = c.student_forward = c.student_backward = 0.0;
    for (auto [i, end] = blocks_of(plan.teacher_bounds, s); i < end; ++i)
      c.teacher_forward += teacher_costs[static_cast<std::size_t>(i)].infer * o.micro_batches;
    for (auto [i, end] = blocks_of(plan.student_bounds, s); i < end; ++i) {
      c.student_forward += student_costs[static_cast<std::size_t>(i)].forward * o.micro_batches;
      c.student_backward += student_costs[static_cast<std::size_t>(i)].backward * o.micro_batches;
      c.activation_memory += student_costs[static_cast<std::size_t>(i)].activation_bytes * o.micro_batches;
    }
  }

  for (int s = 0; s < logical; ++s) {  // Stage s is logical stage s: a chunk on its device
    auto stage = std::make_unique<runtime::Stage<B>>();
    stage->index = s;
    for (auto [i, end] = blocks_of(plan.teacher_bounds, s); i < end; ++i) stage->teacher.add("", std::move(teacher[static_cast<std::size_t>(i)]));
    for (auto [i, end] = blocks_of(plan.student_bounds, s); i < end; ++i) stage->student.add("", std::move(student[static_cast<std::size_t>(i)]));
    stage->teacher.set_training(o.teacher_uses_batch_statistics);
    stage->student.set_training(true);
    stage->optimizer = make_optimizer();
    if (!stage->optimizer) throw Error("Pipeline: the optimizer factory returned null");
    stage->versions = typename runtime::Stage<B>::Versions(s, o.teacher.staleness + 1);
    stage->bind_parameters(o.teacher.is_momentum());
    placed.stages.push_back(std::move(stage));
  }
  return placed;
}

}  // namespace tspipe
