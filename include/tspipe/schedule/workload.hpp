#pragma once
// What a schedule is for (docs/design.md §2): pipeline depth, micro-batches, views, the teacher's kind and
// staleness, how the student backward is split, and what every action costs.
#include <tspipe/error.hpp>
#include <tspipe/schedule/action.hpp>
#include <tspipe/schedule/limits.hpp>

#include <algorithm>
#include <array>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tspipe::schedule {

/// `none` is plain student training: a student-only schedule (e.g. one imported from PyTorch's
/// pipelining) that `fill` can give a teacher.
enum class TeacherKind { frozen, momentum, none };

/// Where the chunks of a device sit in the model when it runs several (virtual stages): with S
/// devices and v chunks the model has S·v logical stages, and logical stage l runs on
///   interleaved  device l mod S (chunk c of device d is stage c·S + d, interleaved 1F1B's layout);
///   v_shape      device d for the first S stages, then back down: stage S + i on device S − 1 − i
///                (device d holds d and 2S − 1 − d, Zero Bubble's V; needs v = 2).
enum class ChunkPlacement { interleaved, v_shape };

/// How a student backward is expressed.
enum class BackwardSplit {
  full,          ///< one BS per micro-batch (input grad + weight grad)
  input_weight,  ///< BI then BW per micro-batch (zero-bubble style: BW may be deferred)
  halves,        ///< the reference implementation's two halves per micro-batch: BS u ∈ [0, 2M)
};

namespace detail {
/// The name `names` gives `value` ("?" for a value it does not list): one lookup behind every
/// enum's to_string, each a table in the enum's order.
template <class Enum, std::size_t N>
constexpr std::string_view name_in(Enum value, const std::pair<Enum, std::string_view> (&names)[N]) {
  for (const auto& [listed, name] : names)
    if (listed == value) return name;
  return "?";
}
}  // namespace detail

constexpr std::string_view to_string(TeacherKind kind) {
  return detail::name_in(kind, {{TeacherKind::frozen, "frozen"}, {TeacherKind::momentum, "momentum"}, {TeacherKind::none, "no"}});
}
constexpr std::string_view to_string(ChunkPlacement placement) {
  return detail::name_in(placement, {{ChunkPlacement::interleaved, "interleaved"}, {ChunkPlacement::v_shape, "v-shape"}});
}
/// Every chunk placement, in the enum's order (the choices a command line lists).
inline constexpr ChunkPlacement kChunkPlacements[] = {ChunkPlacement::interleaved, ChunkPlacement::v_shape};
/// The placement whose to_string is `name` ("interleaved", "v-shape"); nullopt for any other.
constexpr std::optional<ChunkPlacement> chunk_placement_named(std::string_view name) {
  for (const ChunkPlacement p : kChunkPlacements)
    if (to_string(p) == name) return p;
  return std::nullopt;
}
constexpr std::string_view to_string(BackwardSplit split) {
  return detail::name_in(split, {{BackwardSplit::full, "full"}, {BackwardSplit::input_weight, "input-weight"},
                                 {BackwardSplit::halves, "halves"}});
}

/// Costs of one stage, in any consistent time unit, for the WHOLE batch of one view.
/// A micro-batch action costs 1/M of it, so schedules with different M compare fairly.
/// With v chunks per device, a table of S rows gives each device's whole stage, and a chunk's
/// compute, update and activation costs are 1/v of its device's row (transfer, loss and teacher
/// output memory are not split); a table of S·v rows gives every logical stage its own row.
struct StageCost {
  double teacher_forward = 1.0;
  double student_forward = 1.0;
  double student_backward = 2.0;
  double backward_input_share = 0.5;  ///< BI's share of student_backward under the BI/BW split
  double loss = 0.0;                  ///< per batch (shared by its LOSS actions); last stage only
  double optimizer = 0.0;             ///< per batch
  double ema = 0.0;                   ///< per batch
  double transfer = 0.0;              ///< sending stage s → s+1 activations (or the gradient back)
  double activation_memory = 1.0;     ///< student activations FS saves for BS, whole batch of a view
  double teacher_output_memory = 0.0; ///< last-stage teacher output held until LOSS, whole view
};

namespace detail {
/// StageCost's fields by name: the columns of a cost CSV and the names Workload::check reports.
struct CostColumn {
  std::string_view name;
  double StageCost::*field;
};
inline constexpr std::array<CostColumn, 10> kCostColumns = {{
    {"teacher_forward", &StageCost::teacher_forward},
    {"student_forward", &StageCost::student_forward},
    {"student_backward", &StageCost::student_backward},
    {"backward_input_share", &StageCost::backward_input_share},
    {"loss", &StageCost::loss},
    {"optimizer", &StageCost::optimizer},
    {"ema", &StageCost::ema},
    {"transfer", &StageCost::transfer},
    {"activation_memory", &StageCost::activation_memory},
    {"teacher_output_memory", &StageCost::teacher_output_memory},
}};
}  // namespace detail

/// Per-stage cost table plus a fixed runtime overhead per compute action.
struct CostModel {
  std::vector<StageCost> stages;
  double per_action_overhead = 0.0;

  /// FT = FS = 1, BS = 2 per stage and view (the unit costs of docs/design.md §2's oracles).
  static CostModel unit(int num_stages) { return teacher_ratio(num_stages, 1.0); }
  /// Unit student costs with a teacher `ratio` times heavier per stage (ViT-L → ResNet-152: 3).
  static CostModel teacher_ratio(int num_stages, double ratio) {
    CostModel model;
    model.stages.assign(static_cast<std::size_t>(std::max(num_stages, 0)), StageCost{});
    for (auto& stage : model.stages) stage.teacher_forward = ratio;
    return model;
  }
};

/// A pipeline training workload. With one chunk per device (the default) stage s lives on device
/// s; with `chunks` = v > 1 the model has S·v logical stages placed by `chunk_placement`, and an
/// action's `stage` is its logical stage.
struct Workload {
  int stages = 1;  ///< devices (S); also the model's stages when chunks = 1
  int micro_batches = 1;
  int views = 1;
  int batches = 4;  ///< how many batches a generated schedule covers
  TeacherKind teacher = TeacherKind::frozen;
  int staleness = 0;         ///< δ: batch b's teacher reads ξ_{max(0, b−δ)} (momentum only)
  int warmup = 0;            ///< K: batches b < K read ξ_b (δ = 0)
  int teacher_versions = 0;  ///< teacher parameter copies a stage holds; 0 = δ + 1, as the runtime
                            ///< keeps (1 = updated in place)
  int teacher_lookahead = 1; ///< frozen teacher: batches its forwards may run ahead of the student
  BackwardSplit split = BackwardSplit::full;
  CostModel costs;
  /// Per-device cap on peak activation memory (student activations + held teacher outputs), in
  /// activation_memory's units; 0 = none. The cost-aware `tspipe` generator keeps under it.
  double memory_cap = 0.0;
  /// Let the `tspipe` generator pick M (the runtime keeps its own M, so it leaves this off; the
  /// CLI and the benchmark turn it on). The chosen M is in the Generated workload.
  bool choose_micro_batches = false;
  /// Let the `tspipe` generator pick the backward split among the workload's, full and
  /// input_weight (what the runtime executes), and halves when choose_halves is set.
  bool choose_split = false;
  /// Let choose_split also pick the reference's backward halves. Their timing is the reference
  /// implementation's; the runtime only emulates them (the same data flow at the full backward's
  /// timing), so the runtime leaves this off and planning tools turn it on.
  bool choose_halves = false;
  /// One LOSS per micro-batch (LOSS:b.u, over every view of slice u) instead of one per batch:
  /// the last stage's backward of slice u needs only its own loss. Losses whose batch gradient is
  /// the sum of per-sample terms (KD's, BYOL's) allow it; PyTorch's pipelining schedules assume it.
  bool per_micro_batch_loss = false;
  /// Upper bound on the M that choose_micro_batches may pick; 0 = 8·S.
  int max_micro_batches = 0;
  /// Model chunks per device (virtual stages): v ≥ 1. The runtime sets it from PipelineOptions.
  int chunks = 1;
  ChunkPlacement chunk_placement = ChunkPlacement::interleaved;
  /// Let the `tspipe` generator pick v among 1, 2 and 3 and the placement (the runtime's stages
  /// are built for one v, so it leaves this off; the CLI and the benchmark turn it on).
  bool choose_chunks = false;

  /// Logical stages of the model: S·v.
  int logical_stages() const { return stages * chunks; }
  /// The last logical stage (where LOSS runs).
  int last_stage() const { return logical_stages() - 1; }
  /// The device that runs logical stage l (ChunkPlacement describes the layouts).
  int device_of_stage(int l) const {
    if (chunks == 1) return l;
    const int chunk = l / stages, offset = l % stages;
    return chunk_placement == ChunkPlacement::v_shape && chunk % 2 == 1 ? stages - 1 - offset : offset;
  }
  /// The device that runs LOSS.
  int loss_device() const { return device_of_stage(last_stage()); }
  /// The cost row of logical stage l: its own (a table of S·v rows) or its device's.
  const StageCost& stage_costs(int l) const {
    const bool per_logical = chunks > 1 && costs.stages.size() == static_cast<std::size_t>(logical_stages());
    return costs.stages[static_cast<std::size_t>(per_logical ? l : device_of_stage(l))];
  }
  /// The share of a row's compute, update and activation costs one chunk carries: 1/v when the
  /// table has a row per device, else 1.
  double chunk_share() const {
    return chunks > 1 && costs.stages.size() == static_cast<std::size_t>(stages) ? 1.0 / chunks : 1.0;
  }
  /// Backward slices per view: M, or 2M for the reference implementation's halves.
  int backward_slices() const { return split == BackwardSplit::halves ? 2 * micro_batches : micro_batches; }
  bool momentum() const { return teacher == TeacherKind::momentum; }
  bool has_teacher() const { return teacher != TeacherKind::none; }
  /// LOSS actions per batch: one, or one per micro-batch.
  int losses_per_batch() const { return per_micro_batch_loss ? micro_batches : 1; }
  /// Teacher parameter buffers per stage: EMA:s.b writes ξ_{b+1} over ξ_{b+1−buffers}.
  int teacher_buffers() const { return teacher_versions > 0 ? teacher_versions : staleness + 1; }

  /// The teacher version ξ_r that batch b's forward reads (docs/design.md §1). A frozen teacher has one.
  int teacher_version_read(int batch) const {
    if (!momentum()) return 0;
    if (batch < warmup) return batch;
    return std::max(0, batch - staleness);
  }

  /// The largest M any generator may use: M, or under choose_micro_batches the search's bound.
  int largest_micro_batches() const {
    if (!choose_micro_batches) return micro_batches;
    // (stages clamped so that an unchecked workload cannot overflow 8·S)
    return std::max(micro_batches, max_micro_batches > 0 ? max_micro_batches : 8 * std::clamp(stages, 0, kMaxStages));
  }

  /// The most actions any generator may produce for this workload (at the largest M, with the
  /// backward in two parts), saturating: what generating, validating and simulating it will hold.
  std::uint64_t max_actions() const {
    const auto n = [](int x) { return static_cast<std::uint64_t>(std::max(x, 0)); };
    // Per slice FT, FS and two backward parts; per batch a LOSS per micro-batch at most, and OPT
    // and EMA per stage.
    const std::uint64_t most_m = n(largest_micro_batches());
    const std::uint64_t logical = saturating_product(n(stages), n(chunks));
    const std::uint64_t slices = saturating_product(saturating_product(saturating_product(logical, n(batches)), n(views)), most_m);
    return saturating_sum(saturating_product(slices, 4), saturating_product(n(batches), saturating_sum(most_m, saturating_product(logical, 2))));
  }

  /// Rejects impossible shapes and numbers outside schedule/limits.hpp's ranges with a message
  /// naming the field and its value.
  Status check() const {
    const auto bad = [](std::string_view field, int value, std::string_view need) {
      return Status::failure("workload: " + std::string(field) + " = " + std::to_string(value) +
                             " is invalid (" + std::string(need) + ")");
    };
    // Enumerations set from outside their range (a cast, memory written by other means).
    if (teacher != TeacherKind::frozen && teacher != TeacherKind::momentum && teacher != TeacherKind::none)
      return bad("teacher", static_cast<int>(teacher), "need frozen, momentum or none");
    if (split != BackwardSplit::full && split != BackwardSplit::input_weight && split != BackwardSplit::halves)
      return bad("split", static_cast<int>(split), "need full, input_weight or halves");
    if (chunk_placement != ChunkPlacement::interleaved && chunk_placement != ChunkPlacement::v_shape)
      return bad("chunk_placement", static_cast<int>(chunk_placement), "need interleaved or v_shape");
    const std::string count_range = " to " + std::to_string(kMaxCount);
    if (stages < 1 || stages > kMaxStages) return bad("stages", stages, "need 1 to " + std::to_string(kMaxStages));
    if (chunks < 1 || chunks > kMaxStages / stages)
      return bad("chunks", chunks, "need 1 to " + std::to_string(kMaxStages / stages) + ", so that stages × chunks ≤ " + std::to_string(kMaxStages));
    if (chunk_placement == ChunkPlacement::v_shape && chunks != 2)
      return bad("chunks", chunks, "the v-shape placement holds 2 chunks per device");
    if (micro_batches < 1 || micro_batches > kMaxCount) return bad("micro_batches", micro_batches, "need 1" + count_range);
    if (views < 1 || views > kMaxCount) return bad("views", views, "need 1" + count_range);
    if (batches < 1 || batches > kMaxCount) return bad("batches", batches, "need 1" + count_range);
    if (staleness < 0 || staleness > kMaxCount) return bad("staleness", staleness, "need 0" + count_range);
    if (warmup < 0 || warmup > kMaxCount) return bad("warmup", warmup, "need 0" + count_range);
    if (teacher_versions < 0 || teacher_versions > kMaxCount)
      return bad("teacher_versions", teacher_versions, "need 1" + count_range + ", or 0 for δ + 1");
    if (teacher_lookahead < 0 || teacher_lookahead > kMaxCount)
      return bad("teacher_lookahead", teacher_lookahead, "need 0" + count_range);
    if (max_micro_batches < 0 || max_micro_batches > kMaxCount)
      return bad("max_micro_batches", max_micro_batches, "need 1" + count_range + ", or 0 for 8·S");
    const auto bad_value = [](const std::string& field, double value, std::string_view need) {
      return Status::failure("workload: " + field + " = " + shown(value) + " is invalid (" + std::string(need) + ")");
    };
    constexpr std::string_view value_range = "need a finite value in [0, 1e18]";
    if (!value_in_range(memory_cap)) return bad_value("memory_cap", memory_cap, "need a finite value in [0, 1e18]; 0 = no cap");
    if (static_cast<int>(costs.stages.size()) != stages &&
        (chunks == 1 || static_cast<int>(costs.stages.size()) != logical_stages()))
      return Status::failure("workload: cost table has " + std::to_string(costs.stages.size()) +
                             " stages but the workload has " + std::to_string(stages) +
                             (chunks > 1 ? " devices and " + std::to_string(logical_stages()) + " logical stages" : std::string()));
    for (std::size_t s = 0; s < costs.stages.size(); ++s)
      for (const auto& column : detail::kCostColumns) {
        const double v = costs.stages[s].*(column.field);
        const bool share = column.field == &StageCost::backward_input_share;
        if (!value_in_range(v) || (share && v > 1.0))
          return bad_value("stage " + std::to_string(s) + " " + std::string(column.name), v,
                           share ? "need a value in [0, 1]" : value_range);
      }
    if (!value_in_range(costs.per_action_overhead))
      return bad_value("per_action_overhead", costs.per_action_overhead, value_range);
    if (const std::uint64_t actions = max_actions(); actions > kMaxActions)
      return Status::failure("workload: stages × batches × views × micro-batches give up to " +
                             (actions == std::numeric_limits<std::uint64_t>::max() ? std::string("more than 2^64") : std::to_string(actions)) +
                             " actions, more than the " + std::to_string(kMaxActions) + " a schedule can index");
    return {};
  }

  /// The time one action takes under the cost model.
  double action_cost(const Action& a) const {
    // (LOSS reads the last stage's row whatever its stage field says: that is not in its token)
    const StageCost& c = stage_costs(a.kind == ActionKind::Loss ? last_stage() : a.stage);
    const double slice = chunk_share() / micro_batches;
    const double overhead = is_sliced(a.kind) ? costs.per_action_overhead : 0.0;
    switch (a.kind) {
      case ActionKind::TeacherForward: return c.teacher_forward * slice + overhead;
      case ActionKind::StudentForward: return c.student_forward * slice + overhead;
      case ActionKind::StudentBackward:
        return c.student_backward * slice * (split == BackwardSplit::halves ? 0.5 : 1.0) + overhead;
      case ActionKind::BackwardInput: return c.student_backward * c.backward_input_share * slice + overhead;
      case ActionKind::BackwardWeight:
        return c.student_backward * (1.0 - c.backward_input_share) * slice + overhead;
      case ActionKind::Loss: return c.loss / losses_per_batch();
      case ActionKind::Optimizer: return c.optimizer * chunk_share();
      case ActionKind::Ema: return c.ema * chunk_share();
    }
    return 0.0;
  }

  /// Time to move one micro-batch's activation (or gradient) across the boundary s | s+1 of
  /// logical stages, when the two run on different devices.
  double transfer_cost(int lower_stage) const { return stage_costs(lower_stage).transfer / micro_batches; }
  /// Activation memory one student forward slice saves on logical stage l.
  double activation_per_slice(int l) const { return stage_costs(l).activation_memory * chunk_share() / micro_batches; }
};

/// KD with a frozen teacher: V = 1, M = S − 1 (at least 1).
inline Workload kd_workload(int stages) {
  Workload w;
  w.stages = stages;
  w.micro_batches = std::max(1, stages - 1);
  w.views = 1;
  w.teacher = TeacherKind::frozen;
  w.costs = CostModel::unit(stages);
  return w;
}

/// SSL with a momentum teacher as the reference runs it: KD's shape with V = 2 and δ = 1.
inline Workload ssl_workload(int stages) {
  Workload w = kd_workload(stages);
  w.views = 2;
  w.teacher = TeacherKind::momentum;
  w.staleness = 1;
  return w;
}

}  // namespace tspipe::schedule
