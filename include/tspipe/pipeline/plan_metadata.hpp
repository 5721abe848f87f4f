#pragma once
// What decides a pipeline's schedules, as checkpoint metadata: the options a plan is made from,
// the partition, and the cost model the `tspipe` search plans with (every field of every stage,
// written exactly: metadata_text.hpp). A pipeline restored from it plans exactly as the run that
// saved it would have, so a resumed run executes the same schedules.
#include <tspipe/error.hpp>
#include <tspipe/partition/partitioner.hpp>
#include <tspipe/pipeline/metadata_text.hpp>
#include <tspipe/pipeline/options.hpp>
#include <tspipe/pipeline/segment_plan.hpp>
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/workload.hpp>

#include <climits>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tspipe {

using Metadata = std::map<std::string, std::string>;

namespace detail {

/// Every number of a stage's costs, by the name the metadata keys use.
inline const std::vector<std::pair<const char*, double schedule::StageCost::*>>& stage_cost_fields() {
  using C = schedule::StageCost;
  static const std::vector<std::pair<const char*, double C::*>> fields = {
      {"teacher_forward", &C::teacher_forward}, {"student_forward", &C::student_forward},
      {"student_backward", &C::student_backward}, {"backward_input_share", &C::backward_input_share},
      {"loss", &C::loss}, {"optimizer", &C::optimizer}, {"ema", &C::ema}, {"transfer", &C::transfer},
      {"activation_memory", &C::activation_memory}, {"teacher_output_memory", &C::teacher_output_memory}};
  return fields;
}

inline std::string bounds_text(const std::vector<int>& bounds) {
  std::string text;
  for (std::size_t i = 0; i < bounds.size(); ++i) text += (i ? "," : "") + std::to_string(bounds[i]);
  return text;
}

}  // namespace detail

/// Adds the plan of a pipeline to checkpoint metadata.
inline void write_plan(Metadata& metadata, const PipelineOptions& o, const partition::PartitionPlan& partition,
                       const schedule::CostModel& costs) {
  metadata["plan.schedule"] = o.schedule;
  metadata["plan.micro_batches"] = std::to_string(o.micro_batches);
  metadata["plan.split"] = std::string(schedule::to_string(o.split));
  metadata["plan.choose_micro_batches"] = flag_text(o.choose_micro_batches);
  metadata["plan.choose_split"] = flag_text(o.choose_split);
  metadata["plan.segment_batches"] = std::to_string(o.segment_batches);
  metadata["plan.frozen_lookahead"] = std::to_string(o.frozen_lookahead);
  metadata["plan.calibrate_costs"] = flag_text(o.calibrate_costs);
  metadata["plan.loss_granularity"] = std::string(to_string(o.loss_granularity));
  metadata["plan.chunks"] = std::to_string(o.chunks);
  metadata["plan.chunk_placement"] = std::string(schedule::to_string(o.chunk_placement));
  metadata["partition.teacher_bounds"] = detail::bounds_text(partition.teacher_bounds);
  metadata["partition.student_bounds"] = detail::bounds_text(partition.student_bounds);
  metadata["costs.per_action_overhead"] = exact_text(costs.per_action_overhead, "the cost model's per_action_overhead");
  for (std::size_t s = 0; s < costs.stages.size(); ++s)
    for (const auto& [name, field] : detail::stage_cost_fields()) {
      const std::string key = "costs." + std::to_string(s) + "." + name;
      metadata[key] = exact_text(costs.stages[s].*field, "the cost model's " + key);
    }
}

/// Throws Error(`where` …) unless the checkpoint's stages are this pipeline's: the chunks per
/// device and their placement saved in `metadata` (1, interleaved, for a writer that stored
/// none) must be `options`'. The plan (schedule, partition, cost model) and each stage's active
/// teacher version (`teacher_active.<s>`) are kept per logical stage of that layout, so another
/// layout is refused rather than remapped.
inline void check_saved_chunks(const Metadata& metadata, const std::string& where, const PipelineOptions& options) {
  const auto chunks_key = metadata.find("plan.chunks");
  const auto placement_key = metadata.find("plan.chunk_placement");
  const std::string chunks = chunks_key == metadata.end() ? "1" : chunks_key->second;
  const std::string placement = placement_key == metadata.end() ? std::string(schedule::to_string(schedule::ChunkPlacement::interleaved))
                                                                : placement_key->second;
  if (chunks != std::to_string(options.chunks))
    throw Error(where + "it was saved with plan.chunks = " + detail::quoted_brief(chunks) + " chunks per device, this pipeline runs " +
                std::to_string(options.chunks) + ": build the pipeline with the checkpoint's chunks to resume it");
  if (options.chunks > 1 && placement != schedule::to_string(options.chunk_placement))
    throw Error(where + "it was saved with plan.chunk_placement = " + detail::quoted_brief(placement) + ", this pipeline places its chunks " +
                std::string(schedule::to_string(options.chunk_placement)) + ": build the pipeline with the checkpoint's placement");
}

/// The options and cost model a pipeline continues with after a load.
struct RestoredPlan {
  PipelineOptions options;
  schedule::CostModel costs;
};

/// The plan saved in `metadata` applied to this pipeline's `options`, `partition` and `costs`:
/// the saved plan options always, the saved cost model when the checkpoint's partition is this
/// pipeline's (otherwise its costs describe other stages and this pipeline's own are kept).
/// Metadata without a plan (from a writer that stored none) changes nothing. Throws Error(`where`
/// …) naming the first key that is missing or malformed, or a plan this pipeline cannot run from
/// global batch `step` on.
inline RestoredPlan read_plan(const Metadata& metadata, const std::string& where, const PipelineOptions& options,
                              const partition::PartitionPlan& partition, const schedule::CostModel& costs, long step) {
  RestoredPlan out{options, costs};
  if (!metadata.count("plan.schedule")) return out;
  const auto text = [&](const std::string& key) -> const std::string& {
    const auto it = metadata.find(key);
    if (it == metadata.end()) throw Error(where + "metadata '" + key + "' is missing");
    return it->second;
  };
  const auto count = [&](const std::string& key, long minimum) {
    const long value = read_count(text(key), where + "metadata " + key);
    if (value < minimum || value > INT_MAX)
      throw Error(where + "metadata " + key + " = " + std::to_string(value) + " must lie in [" + std::to_string(minimum) + ", " +
                  std::to_string(INT_MAX) + "]");
    return static_cast<int>(value);
  };
  const auto flag = [&](const std::string& key) { return read_flag(text(key), where + "metadata " + key); };
  const auto bounds = [&](const std::string& key) {
    std::vector<int> values;
    const std::string& all = text(key);
    for (std::size_t begin = 0; begin <= all.size();) {
      const std::size_t comma = std::min(all.find(',', begin), all.size());
      const long b = read_count(all.substr(begin, comma - begin), where + "metadata " + key + " entry");
      if (b > INT_MAX || values.size() > 4096) throw Error(where + "metadata " + key + " is not a partition");
      values.push_back(static_cast<int>(b));
      begin = comma + 1;
    }
    return values;
  };

  PipelineOptions& o = out.options;
  o.schedule = text("plan.schedule");
  if (!is_known_schedule(o.schedule)) throw Error(where + "metadata plan.schedule " + detail::quoted_brief(o.schedule) + " is not a known schedule");
  if (Status runs = check_schedule_chunks(o.schedule, o.chunks, o.chunk_placement); !runs)
    throw Error(where + "metadata plan.schedule " + detail::quoted_brief(o.schedule) + ": " + runs.message());
  o.micro_batches = count("plan.micro_batches", 1);
  if (o.micro_batches > o.batch_size)
    throw Error(where + "plan.micro_batches = " + std::to_string(o.micro_batches) + " is larger than this pipeline's batch (" +
                std::to_string(o.batch_size) + " samples)");
  if (o.schedule == "sequential" && o.micro_batches != 1)
    throw Error(where + "plan.micro_batches = " + std::to_string(o.micro_batches) + " with the sequential schedule (it needs 1)");
  const std::string& split = text("plan.split");
  bool split_known = false;
  for (auto s : {schedule::BackwardSplit::full, schedule::BackwardSplit::input_weight, schedule::BackwardSplit::halves})
    if (split == schedule::to_string(s)) {
      o.split = s;
      split_known = true;
    }
  if (!split_known) throw Error(where + "metadata plan.split " + detail::quoted_brief(split) + " is not full, input-weight or halves");
  o.choose_micro_batches = flag("plan.choose_micro_batches");
  o.choose_split = flag("plan.choose_split");
  o.segment_batches = count("plan.segment_batches", 1);
  o.frozen_lookahead = count("plan.frozen_lookahead", 0);
  o.calibrate_costs = flag("plan.calibrate_costs");
  // A writer from before the per-micro-batch loss stored none: its run had one LOSS per batch.
  const auto granularity = metadata.find("plan.loss_granularity");
  o.loss_granularity = LossGranularity::whole_batch;
  if (granularity != metadata.end()) {
    if (granularity->second == to_string(LossGranularity::micro_batch)) o.loss_granularity = LossGranularity::micro_batch;
    else if (granularity->second != to_string(LossGranularity::whole_batch))
      throw Error(where + "metadata plan.loss_granularity " + detail::quoted_brief(granularity->second) +
                  " is neither whole-batch nor micro-batch");
  }

  const std::vector<int> teacher_bounds = bounds("partition.teacher_bounds");
  const std::vector<int> student_bounds = bounds("partition.student_bounds");
  if (teacher_bounds.size() < 2 || teacher_bounds.size() != student_bounds.size())
    throw Error(where + "metadata partition.teacher_bounds and partition.student_bounds are not the bounds of one partition");
  schedule::CostModel saved;
  saved.per_action_overhead = read_finite(text("costs.per_action_overhead"), where + "metadata costs.per_action_overhead");
  saved.stages.resize(teacher_bounds.size() - 1);
  for (std::size_t s = 0; s < saved.stages.size(); ++s)
    for (const auto& [name, field] : detail::stage_cost_fields()) {
      const std::string key = "costs." + std::to_string(s) + "." + name;
      saved.stages[s].*field = read_finite(text(key), where + "metadata " + key);
    }
  schedule::Workload probe;
  probe.stages = static_cast<int>(saved.stages.size());  // a row per logical stage
  probe.costs = saved;
  if (Status ok = probe.check(); !ok) throw Error(where + "the saved cost model: " + ok.message());
  if (teacher_bounds == partition.teacher_bounds && student_bounds == partition.student_bounds) out.costs = std::move(saved);
  const auto runs = planning::generate(o.schedule, segment_workload(o, out.costs, o.stages, 2, step));
  if (!runs) throw Error(where + "its plan cannot run here: " + runs.message());
  return out;
}

}  // namespace tspipe
