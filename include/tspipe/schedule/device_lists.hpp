#pragma once
// What every generator shares: the Generated result and the building blocks of per-device action
// lists (a batch's teacher forwards, student forwards, backwards, updates; the flush skeleton).
// generators.hpp and the cost-aware tspipe generator (tspipe_search.hpp) both build from these.
#include <tspipe/schedule/dependencies.hpp>
#include <tspipe/schedule/schedule.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tspipe::schedule {

struct Generated {
  Workload workload;  ///< what the schedule is for (the input, adapted by the generator)
  Schedule schedule;
};

namespace detail {

using DeviceList = std::vector<Action>;

inline void append_teacher_forwards(DeviceList& list, int s, int b, const Workload& w) {
  if (!w.has_teacher()) return;
  for (int v = 0; v < w.views; ++v)
    for (int u = 0; u < w.micro_batches; ++u) list.push_back(teacher_forward(s, b, v, u));
}
inline void append_student_forwards(DeviceList& list, int s, int b, const Workload& w) {
  for (int v = 0; v < w.views; ++v)
    for (int u = 0; u < w.micro_batches; ++u) list.push_back(student_forward(s, b, v, u));
}

/// The student backward of one batch on one stage. `lifo`: reverse of forward order (the last
/// forwarded slice's gradient is the first the loss can release); otherwise forward order.
/// Under the BI/BW split, every weight gradient is deferred behind the input gradients, so the
/// gradient travelling to the previous stage is never held up by weight-gradient work.
inline void append_student_backwards(DeviceList& list, int s, int b, const Workload& w, bool lifo) {
  const int slices = w.backward_slices();
  const auto each_slice = [&](auto&& emit) {
    for (int i = 0; i < w.views * slices; ++i) {
      const int k = lifo ? w.views * slices - 1 - i : i;
      emit(k / slices, k % slices);
    }
  };
  if (w.split == BackwardSplit::input_weight) {
    each_slice([&](int v, int u) { list.push_back(backward_input(s, b, v, u)); });
    each_slice([&](int v, int u) { list.push_back(backward_weight(s, b, v, u)); });
  } else {
    each_slice([&](int v, int u) { list.push_back(student_backward(s, b, v, u)); });
  }
}
/// The last stage's losses of batch b once all its forwards are in: one LOSS, or one per
/// micro-batch.
inline void append_losses(DeviceList& list, int s, int b, const Workload& w) {
  if (s != w.last_stage()) return;
  for (int u = 0; u < w.losses_per_batch(); ++u) list.push_back(loss(s, b, u));
}
/// A schedule planned with one LOSS per batch, for `w` with a loss per micro-batch: each LOSS:b
/// becomes LOSS:b.0 … LOSS:b.(M−1) in its place (every forward of b precedes it, so each of them
/// may run there; together they cost what the one did).
inline Schedule with_micro_batch_losses(Schedule s, const Workload& w) {
  for (DeviceList& list : s.devices) {
    DeviceList out;
    out.reserve(list.size() + static_cast<std::size_t>(w.batches * (w.losses_per_batch() - 1)));
    for (const Action& a : list) {
      if (a.kind != ActionKind::Loss) out.push_back(a);
      else append_losses(out, a.stage, a.batch, w);
    }
    list = std::move(out);
  }
  return s;
}
inline void append_updates(DeviceList& list, int s, int b, const Workload& w) {
  list.push_back(optimizer_step(s, b));
  if (w.momentum()) list.push_back(ema_update(s, b));
}

inline Result<Generated> fail(std::string_view generator, const std::string& why) {
  return Result<Generated>::failure(std::string(generator) + ": " + why);
}

/// Why a generator that runs one chunk per device cannot run `w`; empty when it can.
inline std::string several_chunks_problem(const Workload& w) {
  if (w.chunks == 1) return {};
  return "runs one chunk per device, the workload has chunks = " + std::to_string(w.chunks) +
         " (the interleaved-1f1b and zbv generators run virtual stages)";
}

/// A flush schedule: per batch, `body` emits the forwards and backwards, then OPT and EMA follow.
template <class BatchBody>
Schedule flush_schedule(const Workload& w, std::string_view name, BatchBody&& body) {
  Schedule schedule;
  schedule.generator = std::string(name);
  schedule.devices.resize(static_cast<std::size_t>(w.stages));
  for (int s = 0; s < w.stages; ++s) {
    DeviceList& list = schedule.devices[static_cast<std::size_t>(s)];
    for (int b = 0; b < w.batches; ++b) {
      body(list, s, b);
      append_updates(list, s, b, w);
    }
  }
  return schedule;
}

/// In a flush schedule batch b's teacher runs between EMA(b−1) and EMA(b), reading ξ_{b−δ}: that
/// version survives until then only when a stage keeps at least δ + 1 teacher buffers.
inline std::string flush_version_problem(const Workload& w) {
  if (!w.momentum()) return {};
  if (w.teacher_buffers() < w.staleness + 1)
    return "δ = " + std::to_string(w.staleness) + " needs " + std::to_string(w.staleness + 1) +
           " teacher buffers in a flush schedule, the workload allows " + std::to_string(w.teacher_buffers());
  return {};
}

}  // namespace detail

}  // namespace tspipe::schedule
