#pragma once
// The schedule of each segment: its workload (the pipeline's options and cost model, the
// segment's length and its place in the teacher warm-up), the plan the named generator makes of
// it, and the validator's check of that plan. A plan depends on nothing else, so it is made once
// and reused for every later segment of the same workload, until the options or costs change.
#include <tspipe/error.hpp>
#include <tspipe/pipeline/options.hpp>
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/validator.hpp>

#include <algorithm>
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe {

namespace detail {
inline bool listed(const std::vector<std::string_view>& names, const std::string& name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}
}  // namespace detail

/// Whether `name` is a generator the runtime can plan with, at any number of chunks.
inline bool is_known_schedule(const std::string& name) {
  return detail::listed(planning::generator_names(), name) || detail::listed(planning::virtual_stage_generator_names(), name);
}

/// Whether the runtime can plan schedule `name` with `chunks` model chunks per device placed by
/// `placement`: the one-chunk generators at chunks = 1, the virtual-stage ones and `tspipe` at
/// chunks > 1, `zbv` in a V and `interleaved-1f1b` interleaved (their fixed orders assume it). The
/// failure names the schedule and what to change (an unknown name lists the known ones).
inline Status check_schedule_chunks(const std::string& name, int chunks, schedule::ChunkPlacement placement) {
  if (!is_known_schedule(name)) return Status::failure(planning::generate(name, schedule::kd_workload(1)).message());
  const bool virtual_stages = detail::listed(planning::virtual_stage_generator_names(), name);
  if (chunks == 1 && virtual_stages)
    return Status::failure("the " + name + " schedule runs virtual stages: set chunks ≥ 2" +
                           (name == "zbv" ? " (zbv: chunks = 2 with chunk_placement = v_shape)" : ""));
  if (chunks > 1 && !virtual_stages && name != "tspipe")
    return Status::failure("chunks = " + std::to_string(chunks) + ", but the " + name +
                           " schedule runs one chunk per device: use interleaved-1f1b, zbv or tspipe");
  if (name == "zbv" && placement != schedule::ChunkPlacement::v_shape)
    return Status::failure("the zbv schedule places 2 chunks per device in a V: set chunks = 2 and chunk_placement = v_shape");
  if (name == "interleaved-1f1b" && placement != schedule::ChunkPlacement::interleaved)
    return Status::failure("the interleaved-1f1b schedule places chunks interleaved: set chunk_placement = interleaved");
  return {};
}

/// The workload of a segment of `batches` batches starting at global batch `first`, on `stages`
/// devices (each running o.chunks logical stages).
inline schedule::Workload segment_workload(const PipelineOptions& o, const schedule::CostModel& costs, int stages, int batches,
                                           long first) {
  schedule::Workload w;
  w.stages = stages;
  w.chunks = o.chunks;
  w.chunk_placement = o.chunk_placement;
  w.micro_batches = o.micro_batches;
  w.views = o.views;
  w.batches = batches;
  w.teacher = o.teacher.kind;
  w.staleness = o.teacher.staleness;
  w.warmup = static_cast<int>(std::max(0L, o.teacher.warmup - first));
  w.teacher_lookahead = o.frozen_lookahead;
  w.split = o.split;
  w.costs = costs;
  w.choose_micro_batches = o.choose_micro_batches;
  w.choose_split = o.choose_split;
  // A built pipeline has resolved `automatic` against its loss (resolved_loss_granularity).
  w.per_micro_batch_loss = o.loss_granularity == LossGranularity::micro_batch;
  w.max_micro_batches = static_cast<int>(std::min<long>(o.batch_size, 8L * stages));
  return w;
}

/// Generated, validated plans of the segments, the last few workloads remembered.
class SegmentPlanner {
 public:
  /// The plan of a segment of `batches` batches from global batch `first`. Throws Error naming
  /// the generator's or the validator's objection.
  const schedule::Generated& plan(const PipelineOptions& o, const schedule::CostModel& costs, int stages, int batches, long first) {
    const schedule::Workload w = segment_workload(o, costs, stages, batches, first);
    for (const Plan& p : plans_)
      if (p.batches == w.batches && p.warmup == w.warmup) return p.generated;
    auto generated = planning::generate(o.schedule, w);
    if (!generated) throw Error("Pipeline: " + generated.message());
    if (generated.value().workload.chunks != o.chunks)  // the stages were built for o.chunks
      throw Error("Pipeline: the " + o.schedule + " schedule planned " + std::to_string(generated.value().workload.chunks) +
                  " chunks per device, the pipeline has " + std::to_string(o.chunks));
    const auto violations = schedule::validate(generated.value().schedule, generated.value().workload, 3);
    if (!violations.empty())
      throw Error("Pipeline: the " + o.schedule + " schedule is invalid: " + schedule::to_string(violations.front()));
    // Full segments after the warm-up are the common case; a flush's short segment and each
    // warm-up segment come and go.
    if (plans_.size() == kRemembered) plans_.pop_front();
    plans_.push_back({w.batches, w.warmup, std::move(generated).value()});
    return plans_.back().generated;
  }
  /// The options or the cost model changed: plan afresh.
  void forget() { plans_.clear(); }

 private:
  static constexpr std::size_t kRemembered = 4;
  struct Plan {
    int batches;
    int warmup;
    schedule::Generated generated;
  };
  std::deque<Plan> plans_;
};

}  // namespace tspipe
