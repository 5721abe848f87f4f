#pragma once
// What a Pipeline is built from: its options, how it is spread over processes, and the records it
// hands back (losses).
#include <tspipe/error.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/nn/tensor.hpp>
#include <tspipe/runtime/dispatch.hpp>
#include <tspipe/runtime/transport.hpp>
#include <tspipe/schedule/workload.hpp>
#include <tspipe/update/teacher_policy.hpp>

#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe {

using OptimizerFactory = std::function<std::unique_ptr<nn::Optimizer>()>;  ///< for host backends

/// How often the loss runs in a batch (docs/design.md, the loss contract).
enum class LossGranularity {
  whole_batch,  ///< one LOSS per batch, over every micro-batch's outputs at once
  /// One LOSS per micro-batch, over its own rows: a micro-batch's backward may start before the
  /// batch's last forward (1F1B's memory, the filled-1F1B orders). Refused for a loss that is not
  /// per-sample (Loss::per_sample).
  micro_batch,
  /// micro_batch when the loss is per-sample (KD, BYOL, cross-entropy, MSE), else whole_batch
  /// (MoCo-v3's InfoNCE). A built pipeline's options() hold the choice.
  automatic,
};

constexpr std::string_view to_string(LossGranularity g) {
  switch (g) {
    case LossGranularity::automatic: return "automatic";
    case LossGranularity::whole_batch: return "whole-batch";
    case LossGranularity::micro_batch: return "micro-batch";
  }
  return "?";
}

struct PipelineOptions {
  int stages = 1;  ///< devices: one worker thread each
  /// Virtual stages (docs/design.md §2.9): teacher and student are cut into stages·chunks logical
  /// stages and each device runs `chunks` of them, placed by chunk_placement. Needs a schedule
  /// that runs chunks (interleaved-1f1b, zbv, tspipe) and every stage in this process.
  int chunks = 1;
  schedule::ChunkPlacement chunk_placement = schedule::ChunkPlacement::interleaved;
  int micro_batches = 1;
  int views = 1;
  std::string schedule = "tspipe";
  schedule::BackwardSplit split = schedule::BackwardSplit::full;
  update::TeacherPolicy teacher;
  bool teacher_uses_batch_statistics = false;  ///< teacher BatchNorm in training mode (BYOL's target)

  long batch_size = 0;            ///< samples per batch (every fed batch must have it)
  nn::Shape input_shape;          ///< one sample's shape, e.g. {3, 32, 32}
  std::vector<int> teacher_cuts;  ///< first block of logical stages 1…S·v−1; empty = automatic
  std::vector<int> student_cuts;
  double memory_cap_bytes = 0.0;  ///< per device, for the automatic partition; 0 = none

  /// Let the `tspipe` schedule choose the number of micro-batches (up to the batch size) and the
  /// backward split (full or BI/BW) from the profiled costs; micro_batches is then its start.
  bool choose_micro_batches = false;
  bool choose_split = false;
  /// Whether the loss runs per micro-batch; the gradients and the reported loss are the whole
  /// batch's either way, up to float rounding. Whole batch unless asked: weight gradients then
  /// accumulate in an order a schedule may change (docs/design.md, the loss contract).
  LossGranularity loss_granularity = LossGranularity::whole_batch;

  /// How workers pick actions: their lists strictly in order (the default, what the simulator
  /// predicts), or dynamically, the highest-priority ready action (student work first, teacher
  /// forwards into the gaps) for when real costs stray from the profiled ones. Dynamic needs
  /// every stage in this process.
  runtime::Dispatch dispatch = runtime::Dispatch::in_order;
  int segment_batches = 8;  ///< batches per generated schedule (a drain between segments)
  int frozen_lookahead = 1; ///< batches a frozen teacher's forwards may run ahead
  std::chrono::milliseconds watchdog{60000};  ///< a worker waiting longer reports what it waits on
  std::size_t mailbox_capacity = 0;  ///< messages per stage mailbox; 0 = enough for any schedule
  /// Keep the measured trace (Pipeline::trace, trace_timeline): every action of the most recent
  /// `trace_segments` segments, so that its memory stays bounded however long the run; the
  /// timing report covers every segment either way.
  bool record_trace = true;
  int trace_segments = 64;

  /// The cost model the `tspipe` search plans with is fixed for a run: profiled once when the
  /// pipeline is built (or given with set_profiled_costs, or restored by load), so the schedule,
  /// and with choose_micro_batches M, never depend on timing. With calibrate_costs, after every
  /// segment the model's per-action overhead is set to what the actions took beyond their
  /// profiled cost so far: later plans follow the measured time, and MAY CHANGE with it (another
  /// M, another order), so two runs need not train alike. Not for a distributed launch, whose
  /// processes must all plan the same schedule.
  bool calibrate_costs = false;

  /// The model's stages: stages · chunks (the partition's parts, the runtime's Stage objects).
  int logical_stages() const { return stages * chunks; }
};

struct LossRecord {
  long batch = 0;
  double loss = 0.0;
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

  /// Whether stage s runs in this process.
  bool runs_stage(int s) const {
    return local_stages.empty() || std::find(local_stages.begin(), local_stages.end(), s) != local_stages.end();
  }
};

/// Throws Error("Pipeline::set_distribution: …") naming why `d` cannot spread a pipeline built
/// with `o` (of `stages` logical stages) over processes.
template <class Tensor, class GradientSlot>
void check_distribution(const PipelineOptions& o, const Distribution<Tensor, GradientSlot>& d, int stages) {
  const auto fail = [](const std::string& what) { throw Error("Pipeline::set_distribution: " + what); };
  if (o.calibrate_costs && d.transport)
    fail("calibrate_costs plans from this process's own timing, but every process of a distributed launch must plan the "
         "same schedule; turn it off");
  if (o.dispatch == runtime::Dispatch::dynamic && (d.transport || !d.local_stages.empty()))
    fail("dynamic dispatch reads every stage's progress, so it needs all stages in this process; use Dispatch::in_order "
         "for a distributed launch");
  // A device's chunks share its worker thread and talk through local mailboxes; a launch places
  // one stage per process, which is not where a chunk lives. A checkpoint hook alone (adding to
  // what this process saves) spreads nothing.
  if (o.chunks > 1 && (d.transport || !d.local_stages.empty() || d.reduce_gradients))
    fail("chunks = " + std::to_string(o.chunks) + ": virtual stages run only with every device in this process, not "
         "spread over processes or replicas; use chunks = 1 for a distributed launch");
  for (int s : d.local_stages)
    if (s < 0 || s >= stages) fail("local stage " + std::to_string(s) + " outside [0, " + std::to_string(stages) + ")");
}

/// One fed batch as the stage workers read it: the views, the labels and the hyper-parameters
/// that were current when it was fed.
template <class Tensor>
struct FedBatch {
  long index;
  std::vector<Tensor> views;
  std::vector<int> labels;
  double learning_rate;
  double tau;
};

}  // namespace tspipe
