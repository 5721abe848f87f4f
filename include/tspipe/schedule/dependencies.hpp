#pragma once
// The dependency structure of docs/design.md §1–2, written once: which actions a workload expects (as a
// dense index), which device runs each, and what each action must wait for. The validator, the
// simulator and the generators all read it from here.
#include <tspipe/schedule/workload.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace tspipe::schedule {

/// Why one action must follow another.
enum class DependencyKind : std::uint8_t {
  data,     ///< the consumer reads what the producer computed (activation, gradient, loss)
  version,  ///< the consumer reads parameters the producer wrote (OPT → FS, EMA → FT)
  overwrite ///< the producer reads a teacher version the consumer (an EMA) overwrites
};

/// Dense numbering of every action a workload expects, so per-action state lives in flat arrays.
class ActionIndex {
 public:
  explicit ActionIndex(const Workload& w) : w_(w) {
    const std::size_t S = static_cast<std::size_t>(w.logical_stages()), N = static_cast<std::size_t>(w.batches);
    const std::size_t V = static_cast<std::size_t>(w.views);
    const std::size_t M = static_cast<std::size_t>(w.micro_batches);
    const std::size_t B = static_cast<std::size_t>(w.backward_slices());
    sizes_[k(ActionKind::TeacherForward)] = w.has_teacher() ? S * N * V * M : 0;
    sizes_[k(ActionKind::StudentForward)] = S * N * V * M;
    const bool split = w.split == BackwardSplit::input_weight;
    sizes_[k(ActionKind::StudentBackward)] = split ? 0 : S * N * V * B;
    sizes_[k(ActionKind::BackwardInput)] = split ? S * N * V * M : 0;
    sizes_[k(ActionKind::BackwardWeight)] = split ? S * N * V * M : 0;
    sizes_[k(ActionKind::Loss)] = N * static_cast<std::size_t>(w.losses_per_batch());
    sizes_[k(ActionKind::Optimizer)] = S * N;
    sizes_[k(ActionKind::Ema)] = w.momentum() ? S * N : 0;
    std::size_t offset = 0;
    for (int kind = 0; kind < kActionKinds; ++kind) {
      offsets_[static_cast<std::size_t>(kind)] = offset;
      offset += sizes_[static_cast<std::size_t>(kind)];
    }
    total_ = offset;
  }

  std::size_t size() const { return total_; }

  /// Whether the workload expects `a` (the fast form of why_unexpected(a).empty()).
  bool contains(const Action& a) const {
    if (sizes_[k(a.kind)] == 0 || a.batch < 0 || a.batch >= w_.batches) return false;
    if (a.kind == ActionKind::Loss) return a.micro_batch >= 0 && a.micro_batch < w_.losses_per_batch();
    if (a.stage < 0 || a.stage >= w_.logical_stages()) return false;
    if (!is_sliced(a.kind)) return true;
    return a.view >= 0 && a.view < w_.views && a.micro_batch >= 0 && a.micro_batch < slices_of(a.kind);
  }

  /// The dense index of `a`, or nothing when the workload does not expect such an action.
  std::optional<std::size_t> find(const Action& a) const {
    if (!contains(a)) return std::nullopt;
    return index_unchecked(a);
  }

  /// Calls `visit(action)` for every action of batch `b` (batch is the outermost index of each
  /// kind's block, so a batch is one contiguous run per kind).
  template <class Visit>
  void for_each_in_batch(int b, Visit&& visit) const {
    const std::size_t N = static_cast<std::size_t>(w_.batches);
    for (std::size_t kind = 0; kind < static_cast<std::size_t>(kActionKinds); ++kind) {
      const std::size_t per_batch = sizes_[kind] / N;
      const std::size_t first = offsets_[kind] + static_cast<std::size_t>(b) * per_batch;
      for (std::size_t i = first; i < first + per_batch; ++i) visit(action_at(i));
    }
  }

  /// Empty when `a` belongs to the workload; otherwise says why not (for the validator).
  std::string why_unexpected(const Action& a) const {
    const std::size_t kind = k(a.kind);
    if (sizes_[kind] == 0) {
      if (a.kind == ActionKind::Ema)
        return w_.has_teacher() ? "the teacher is frozen, so there is no EMA" : "the workload has no teacher, so no EMA";
      if (a.kind == ActionKind::TeacherForward) return "the workload has no teacher";
      if (a.kind == ActionKind::StudentBackward) return "the workload splits the backward into BI/BW";
      return "the workload does not split the backward into BI/BW";
    }
    if (a.batch < 0 || a.batch >= w_.batches)
      return "batch " + std::to_string(a.batch) + " outside [0, " + std::to_string(w_.batches) + ")";
    if (a.kind == ActionKind::Loss) {
      if (a.micro_batch >= 0 && a.micro_batch < w_.losses_per_batch()) return {};
      return w_.per_micro_batch_loss ? "loss micro-batch " + std::to_string(a.micro_batch) + " outside [0, " +
                                           std::to_string(w_.micro_batches) + ")"
                                     : std::string("the workload's loss is per batch, not per micro-batch");
    }
    if (a.stage < 0 || a.stage >= w_.logical_stages())
      return "stage " + std::to_string(a.stage) + " outside [0, " + std::to_string(w_.logical_stages()) + ")";
    if (!is_sliced(a.kind)) return {};
    if (a.view < 0 || a.view >= w_.views)
      return "view " + std::to_string(a.view) + " outside [0, " + std::to_string(w_.views) + ")";
    const int slices = slices_of(a.kind);
    if (a.micro_batch < 0 || a.micro_batch >= slices)
      return "micro-batch " + std::to_string(a.micro_batch) + " outside [0, " + std::to_string(slices) + ")";
    return {};
  }

  /// Index of an action known to belong to the workload.
  std::size_t index_unchecked(const Action& a) const {
    const std::size_t kind = k(a.kind);
    const std::size_t b = static_cast<std::size_t>(a.batch), s = static_cast<std::size_t>(a.stage);
    const std::size_t S = static_cast<std::size_t>(w_.logical_stages());
    if (a.kind == ActionKind::Loss)
      return offsets_[kind] + b * static_cast<std::size_t>(w_.losses_per_batch()) + static_cast<std::size_t>(a.micro_batch);
    if (!is_sliced(a.kind)) return offsets_[kind] + b * S + s;
    const std::size_t V = static_cast<std::size_t>(w_.views);
    const std::size_t U = static_cast<std::size_t>(slices_of(a.kind));
    return offsets_[kind] + ((b * S + s) * V + static_cast<std::size_t>(a.view)) * U +
           static_cast<std::size_t>(a.micro_batch);
  }

  /// The action with dense index `i`.
  Action action_at(std::size_t i) const {
    std::size_t kind = 0;  // blocks are laid out in kind order; empty blocks are skipped
    while (kind + 1 < static_cast<std::size_t>(kActionKinds) && i >= offsets_[kind] + sizes_[kind]) ++kind;
    const ActionKind ak = static_cast<ActionKind>(kind);
    std::size_t r = i - offsets_[kind];
    const std::size_t S = static_cast<std::size_t>(w_.logical_stages());
    if (ak == ActionKind::Loss) {
      const std::size_t L = static_cast<std::size_t>(w_.losses_per_batch());
      return loss(w_.last_stage(), static_cast<int>(r / L), static_cast<int>(r % L));
    }
    if (!is_sliced(ak)) return {ak, static_cast<int>(r % S), static_cast<int>(r / S), 0, 0};
    const std::size_t V = static_cast<std::size_t>(w_.views), U = static_cast<std::size_t>(slices_of(ak));
    const int u = static_cast<int>(r % U);
    r /= U;
    const int v = static_cast<int>(r % V);
    r /= V;
    return {ak, static_cast<int>(r % S), static_cast<int>(r / S), v, u};
  }

  /// Micro-batch slots of a sliced kind: 2M for the reference's backward halves, else M.
  int slices_of(ActionKind kind) const {
    return kind == ActionKind::StudentBackward ? w_.backward_slices() : w_.micro_batches;
  }

  const Workload& workload() const { return w_; }

 private:
  static std::size_t k(ActionKind kind) { return static_cast<std::size_t>(kind); }
  const Workload& w_;
  std::array<std::size_t, kActionKinds> sizes_{};
  std::array<std::size_t, kActionKinds> offsets_{};
  std::size_t total_ = 0;
};

/// The device that runs an action: its logical stage's (stage s on device s with one chunk per
/// device), LOSS on the last stage's device.
inline int device_of(const Workload& w, const Action& a) {
  return a.kind == ActionKind::Loss ? w.loss_device() : w.device_of_stage(a.stage);
}

/// Calls `visit(device)` for every other device that may consume what `a` produces: those of the
/// neighbouring logical stages (activations go up, gradients down); LOSS feeds its own device only.
template <class Visit>
void for_each_neighbour_device(const Workload& w, const Action& a, Visit&& visit) {
  if (a.kind == ActionKind::Loss) return;
  const int own = w.device_of_stage(a.stage);
  for (const int l : {a.stage - 1, a.stage + 1})
    if (l >= 0 && l < w.logical_stages() && w.device_of_stage(l) != own) visit(w.device_of_stage(l));
}

/// Calls `visit(producer, kind)` for every action `a` must follow. `visit` returns false to stop
/// early. Dependencies on actions outside the workload (batch −1, stage −1) are not reported.
template <class Visit>
void for_each_dependency(const Workload& w, const Action& a, Visit&& visit) {
  // Stages here are logical: a chunk's forward feeds the next logical stage, wherever it runs.
  const int s = a.stage, b = a.batch, v = a.view, u = a.micro_batch;
  const int S = w.logical_stages(), M = w.micro_batches;
  switch (a.kind) {
    case ActionKind::TeacherForward: {
      if (s > 0 && !visit(teacher_forward(s - 1, b, v, u), DependencyKind::data)) return;
      const int version = w.teacher_version_read(b);
      if (w.momentum() && version >= 1) visit(ema_update(s, version - 1), DependencyKind::version);
      return;
    }
    case ActionKind::StudentForward:
      if (s > 0 && !visit(student_forward(s - 1, b, v, u), DependencyKind::data)) return;
      if (b > 0) visit(optimizer_step(s, b - 1), DependencyKind::version);
      return;
    case ActionKind::StudentBackward:
    case ActionKind::BackwardInput: {
      const int forward_slice = w.split == BackwardSplit::halves ? u / 2 : u;
      if (!visit(student_forward(s, b, v, forward_slice), DependencyKind::data)) return;
      if (s == S - 1) visit(loss(S - 1, b, w.per_micro_batch_loss ? forward_slice : 0), DependencyKind::data);
      else visit(Action{a.kind, s + 1, b, v, u}, DependencyKind::data);
      return;
    }
    case ActionKind::BackwardWeight:
      visit(backward_input(s, b, v, u), DependencyKind::data);
      return;
    case ActionKind::Loss: {
      // The whole batch's outputs, or under a per-micro-batch loss those of slice u.
      const int first = w.per_micro_batch_loss ? u : 0, last = w.per_micro_batch_loss ? u + 1 : M;
      for (int view = 0; view < w.views; ++view)
        for (int m = first; m < last; ++m) {
          if (w.has_teacher() && !visit(teacher_forward(S - 1, b, view, m), DependencyKind::data)) return;
          if (!visit(student_forward(S - 1, b, view, m), DependencyKind::data)) return;
        }
      return;
    }
    case ActionKind::Optimizer: {
      const ActionKind last_backward =
          w.split == BackwardSplit::input_weight ? ActionKind::BackwardWeight : ActionKind::StudentBackward;
      for (int view = 0; view < w.views; ++view)
        for (int m = 0; m < w.backward_slices(); ++m)
          if (!visit(Action{last_backward, s, b, view, m}, DependencyKind::data)) return;
      return;
    }
    case ActionKind::Ema: {
      if (!visit(optimizer_step(s, b), DependencyKind::data)) return;
      // EMA:s.b writes ξ_{b+1} into the buffer that held ξ_{b+1−k}: every reader of that
      // version must be done first.
      const int overwritten = b + 1 - w.teacher_buffers();
      if (overwritten < 0) return;
      for (int reader = overwritten; reader <= overwritten + w.staleness && reader < w.batches; ++reader) {
        if (w.teacher_version_read(reader) != overwritten) continue;
        for (int view = 0; view < w.views; ++view)
          for (int m = 0; m < M; ++m)
            if (!visit(teacher_forward(s, reader, view, m), DependencyKind::overwrite)) return;
      }
      return;
    }
  }
}

}  // namespace tspipe::schedule
