#pragma once
// What the `tspipe` search (tspipe_search.hpp) tries: the options of one candidate, and the M,
// splits, chunks per device and orders it enumerates, with the memory budget a candidate must fit.
#include <tspipe/planning/fixed_order_candidates.hpp>
#include <tspipe/schedule/workload.hpp>

#include <algorithm>
#include <utility>
#include <vector>

namespace tspipe::planning {

/// How one tspipe candidate orders the student and places fillers (M and split live in the workload).
struct TspipeOptions {
  bool lifo_backward = true;               ///< GPipe order; false: 1F1B (FIFO) order
  bool weight_gradients_in_gaps = false;   ///< BI/BW split only: BW leaves the student list and fills idle time
  int held_teacher_batches = -1;           ///< last stage: FT of batch b waits for LOSS(b − 1 − H); −1: no limit
  /// How far past the student input's arrival a filler may run, as a fraction of its own cost: 0
  /// never delays the student; 1 lets a filler use a gap shorter than itself (worth it when the
  /// teacher's slices are large next to the gaps, e.g. a teacher 3× the student at M = S − 1).
  double filler_overrun = 0.0;
  CandidateOrder order = CandidateOrder::list_scheduled;  ///< or a fixed order (the rules unused)
};

namespace detail {

using schedule::BackwardSplit;
using schedule::ChunkPlacement;
using schedule::Workload;
using schedule::kMaxStages;

/// Peak activation memory gpipe holds on device j at the workload's M: every slice of the batch
/// on each of its chunks (V · activation_memory, summed over the chunks), and on the device of the
/// last stage every teacher output of the batch until LOSS.
inline double flush_peak_memory(const Workload& w, int j) {
  double activations = 0.0;
  for (int l = 0; l < w.logical_stages(); ++l)
    if (w.device_of_stage(l) == j) activations += w.activation_per_slice(l) * w.micro_batches;
  const double teacher_outputs = j == w.loss_device() ? w.stage_costs(w.last_stage()).teacher_output_memory : 0.0;
  return w.views * (activations + teacher_outputs);
}

/// Chunks per device the search tries, with their placement: the workload's (with 2 chunks in
/// either placement, as the zbv generator places 2 chunks in a V whatever the workload says), and
/// under choose_chunks 1, 2 (interleaved and V) and 3 (interleaved) besides.
inline std::vector<std::pair<int, ChunkPlacement>> chunk_candidates(const Workload& w) {
  std::vector<std::pair<int, ChunkPlacement>> out = {{w.chunks, w.chunk_placement}};
  if (w.chunks == 2)
    out.emplace_back(2, w.chunk_placement == ChunkPlacement::v_shape ? ChunkPlacement::interleaved : ChunkPlacement::v_shape);
  if (!w.choose_chunks) return out;
  for (const auto& c : {std::pair(1, ChunkPlacement::interleaved), std::pair(2, ChunkPlacement::interleaved),
                        std::pair(2, ChunkPlacement::v_shape), std::pair(3, ChunkPlacement::interleaved)}) {
    const bool listed = std::any_of(out.begin(), out.end(), [&](const auto& o) {
      return o.first == c.first && (c.first == 1 || o.second == c.second);
    });
    if (!listed && c.first * w.stages <= kMaxStages) out.push_back(c);
  }
  return out;
}

/// M values the search tries: the workload's, then multiples of S and of M, up to the bound.
inline std::vector<int> micro_batch_candidates(const Workload& w) {
  if (!w.choose_micro_batches) return {w.micro_batches};
  const int S = w.stages, M = w.micro_batches;
  const int bound = std::max(M, w.max_micro_batches > 0 ? w.max_micro_batches : 8 * S);
  std::vector<int> candidates = {M, 2 * M, 4 * M, S - 1, S, 2 * S, 3 * S, 4 * S, 6 * S, 8 * S};
  std::erase_if(candidates, [&](int m) { return m < 1 || m > bound; });
  std::sort(candidates.begin(), candidates.end());
  candidates.erase(std::unique(candidates.begin(), candidates.end()), candidates.end());
  return candidates;
}

/// Splits the search tries: the workload's; with choose_split also full and BI/BW (the runtime
/// runs both natively) and, with choose_halves, the reference's halves.
inline std::vector<BackwardSplit> split_candidates(const Workload& w) {
  std::vector<BackwardSplit> out = {w.split};
  if (!w.choose_split) return out;
  for (BackwardSplit split : {BackwardSplit::full, BackwardSplit::input_weight, BackwardSplit::halves})
    if ((split != BackwardSplit::halves || w.choose_halves) && split != w.split) out.push_back(split);
  return out;
}

/// Orders and filler rules the search tries for one M and split: the list scheduler's (the plain
/// one first), then every fixed generator's order; with chunks > 1 the virtual-stage orders.
inline std::vector<TspipeOptions> option_candidates(const Workload& w) {
  std::vector<TspipeOptions> out;
  if (w.chunks > 1) {
    for (CandidateOrder order : kVirtualStageOrders) {
      TspipeOptions fixed;
      fixed.order = order;
      out.push_back(fixed);
    }
    return out;
  }
  std::vector<int> held = {-1};
  if (w.costs.stages.back().teacher_output_memory > 0.0) {
    // Holding H + 1 batches of teacher outputs: H = 0 stays within gpipe's memory; more only
    // under an explicit cap, up to how far the teacher can run ahead (δ or the look-ahead).
    // On a horizon of N batches every H ≥ N − 1 never waits, so behaves as H = N − 1; past
    // kEveryHeld, H doubles, so a huge δ or look-ahead costs a few candidates, not one per value.
    constexpr int kEveryHeld = 16;
    const int ahead = std::min(w.momentum() ? w.staleness : w.teacher_lookahead, w.batches - 1);
    const int most = w.memory_cap > 0.0 ? ahead : 0;
    held.clear();
    for (int h = 0;; h = h < kEveryHeld ? h + 1 : std::min(2 * h, most)) {
      held.push_back(h);
      if (h >= most) break;
    }
  }
  for (bool lifo : {true, false})
    for (bool defer : {false, true}) {
      if (defer && w.split != BackwardSplit::input_weight) continue;
      for (int h : held)
        for (double overrun : {0.0, 1.0}) out.push_back({lifo, defer, h, overrun});
    }
  for (CandidateOrder order : kFixedOrders) {
    if (order == CandidateOrder::reference && w.split != BackwardSplit::halves) continue;
    if (order == CandidateOrder::filled_1f1b && (!w.per_micro_batch_loss || !w.has_teacher())) continue;
    TspipeOptions fixed;
    fixed.order = order;
    out.push_back(fixed);
  }
  return out;
}
}  // namespace detail

}  // namespace tspipe::planning
