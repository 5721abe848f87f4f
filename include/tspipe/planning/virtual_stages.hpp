#pragma once
// Generators for virtual stages (v chunks per device, docs/design.md "Virtual stages"):
//
//   interleaved-1f1b  chunk c of device d is logical stage c·S + d (Megatron's interleaved 1F1B)
//   zbv               device d holds stages d and 2S − 1 − d (Zero Bubble's V) with the backward
//                     split into BI/BW where the workload allows it, weight gradients filling gaps
//
// Both order the student by list scheduling on the cost model, 1F1B-style: whenever a device is
// free it runs, of the heads of its queues whose inputs have arrived, an OPT/EMA, then a LOSS,
// then a backward (earliest micro-batch first, the deeper chunk first), then a forward (earliest
// micro-batch first, then the deeper chunk or, in the breadth-first variant, the shallower one),
// and last a deferred weight gradient. Each chunk's queues keep micro-batch order, and every
// dependency runs from an earlier (batch, micro-batch) or the same one, so the scheduler never
// stalls. The teacher is then filled into the student's gaps (teacher_fill.hpp): its forwards run
// per logical stage too, so the teacher is split into the same chunks.
//
// Several variants (forward priority, deferred weight gradients, how far a weight gradient may
// overrun a gap) are simulated and the fastest filled schedule is kept. A chunk's next batch
// waits for its OPT, which waits for every deeper chunk's input gradients, so a device holds one
// batch's activations at a time, as gpipe does, except where a deeper chunk's weight gradient is
// deferred past the next batch's forwards; the `tspipe` search keeps such a schedule only within
// gpipe's peak.
#include <tspipe/planning/device_agenda.hpp>
#include <tspipe/planning/head_inputs.hpp>
#include <tspipe/planning/teacher_fill.hpp>
#include <tspipe/schedule/device_lists.hpp>
#include <tspipe/sim/simulator.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

namespace tspipe::planning {

/// How the student list scheduler of virtual stages orders one device's ready actions.
struct VirtualStageOptions {
  bool depth_first = true;           ///< among forwards of one micro-batch, the deeper chunk first
  bool defer_weights = false;        ///< BI/BW split: weight gradients only fill idle time
  double weight_overrun = 1.0;       ///< how far past the next student input a deferred BW may run (fraction of its cost)
};

namespace detail {

/// The student schedule of `w` (which has no teacher) by the list scheduling of the header comment.
inline Result<schedule::Schedule> virtual_stage_student(const schedule::Workload& w, const VirtualStageOptions& options) {
  using namespace schedule;
  const std::size_t D = static_cast<std::size_t>(w.stages);
  const int L = w.logical_stages();
  const ActionIndex index(w);
  std::vector<double> finish(index.size(), -1.0);

  // Queues, each in (batch, view, micro-batch) order: per logical stage its forwards, backwards
  // (BI or BS; BI then BW when weights are not deferred) and updates; per device its LOSS and its
  // deferred weight gradients (in the order their BI ran).
  enum Kind { update, loss_queue, backward, forward, weights, kinds };
  struct Queue {
    Kind kind;
    int stage;
    std::vector<Action> actions;
    std::size_t next = 0;
    HeadInputs head;
  };
  std::vector<std::vector<Queue>> queues(D);
  const bool split = w.split == BackwardSplit::input_weight;
  const bool defer = options.defer_weights && split;
  for (int l = 0; l < L; ++l) {
    auto& mine = queues[static_cast<std::size_t>(w.device_of_stage(l))];
    Queue f{forward, l, {}, 0, {}}, b{backward, l, {}, 0, {}}, u{update, l, {}, 0, {}};
    for (int batch = 0; batch < w.batches; ++batch) {
      for (int v = 0; v < w.views; ++v)
        for (int m = 0; m < w.micro_batches; ++m) f.actions.push_back(student_forward(l, batch, v, m));
      for (int v = 0; v < w.views; ++v)
        for (int m = 0; m < w.backward_slices(); ++m) {
          if (!split) {
            b.actions.push_back(student_backward(l, batch, v, m));
            continue;
          }
          b.actions.push_back(backward_input(l, batch, v, m));
          if (!defer) b.actions.push_back(backward_weight(l, batch, v, m));
        }
      u.actions.push_back(optimizer_step(l, batch));
    }
    for (Queue* q : {&u, &b, &f}) mine.push_back(std::move(*q));
  }
  {
    Queue losses{loss_queue, L - 1, {}, 0, {}};
    for (int batch = 0; batch < w.batches; ++batch)
      for (int m = 0; m < w.losses_per_batch(); ++m) losses.actions.push_back(loss(L - 1, batch, m));
    queues[static_cast<std::size_t>(w.loss_device())].push_back(std::move(losses));
  }
  for (std::size_t j = 0; j < D; ++j) queues[j].push_back(Queue{weights, -1, {}, 0, {}});

  Schedule out;
  out.devices.resize(D);
  std::size_t remaining = index.size();
  std::vector<double> now(D, 0.0);
  DeviceAgenda agenda(D);
  const auto run = [&](std::size_t j, Queue& q) {
    const Action a = q.actions[q.next++];
    now[j] += w.action_cost(a);
    finish[index.index_unchecked(a)] = now[j];
    out.devices[j].push_back(a);
    --remaining;
    if (defer && a.kind == ActionKind::BackwardInput)
      queues[j].back().actions.push_back(backward_weight(a.stage, a.batch, a.view, a.micro_batch));
    agenda.wake_at(j, now[j]);
    for_each_neighbour_device(w, a, [&](int k) { agenda.wake_sleeping(static_cast<std::size_t>(k), now[static_cast<std::size_t>(k)]); });
  };
  // Priority of a ready head: smaller first.
  const auto rank = [&](const Queue& q) {
    const Action& a = q.actions[q.next];
    const int slice = w.split == BackwardSplit::halves && q.kind == backward ? a.micro_batch / 2 : a.micro_batch;
    const int depth = q.kind == forward && !options.depth_first ? q.stage : -q.stage;
    return std::tuple(static_cast<int>(q.kind), a.batch, slice, a.view, depth);
  };
  while (const auto wake_up = agenda.next()) {
    const auto [j, t] = *wake_up;
    now[j] = std::max(now[j], t);
    Queue* best = nullptr;
    std::optional<double> student_wake;  // the earliest known arrival of a student head's inputs
    for (Queue& q : queues[j]) {
      if (q.next >= q.actions.size() || q.kind == weights) continue;
      const auto ready = q.head.ready(q.next, q.actions[q.next], w, index, finish);
      if (!ready) continue;
      if (*ready > now[j]) {
        student_wake = student_wake ? std::min(*student_wake, *ready) : *ready;
        continue;
      }
      if (!best || rank(q) < rank(*best)) best = &q;
    }
    if (best) {
      run(j, *best);
      continue;
    }
    Queue& deferred = queues[j].back();
    if (deferred.next < deferred.actions.size()) {
      const double cost = w.action_cost(deferred.actions[deferred.next]);
      if (!student_wake || now[j] + cost * (1.0 - options.weight_overrun) <= *student_wake) {
        run(j, deferred);  // a BW's BI ran on this device, so its input is here
        continue;
      }
    }
    if (student_wake) agenda.wake_at(j, *student_wake);
    else agenda.sleep(j);
  }
  if (remaining != 0)
    return Result<schedule::Schedule>::failure("internal error: virtual-stage list scheduling stalled with " +
                                               std::to_string(remaining) + " actions left (please report this workload)");
  return out;
}

/// The workload a virtual-stage generator runs: `w` with its chunks (or 2 when w has one chunk
/// and may choose) and `placement`, or why it cannot.
inline Result<schedule::Workload> virtual_stage_workload(schedule::Workload w, schedule::ChunkPlacement placement) {
  if (Status ok = w.check(); !ok) return Result<schedule::Workload>::failure(ok.message());
  if (w.chunks == 1 && !w.choose_chunks)
    return Result<schedule::Workload>::failure("runs virtual stages: the workload has chunks = 1 (set chunks ≥ 2, or choose_chunks)");
  if (w.chunks == 1) w.chunks = 2;
  if (placement == schedule::ChunkPlacement::v_shape && w.chunks != 2)
    return Result<schedule::Workload>::failure("the V shape holds 2 chunks per device, the workload has chunks = " + std::to_string(w.chunks));
  w.chunk_placement = placement;
  if (w.costs.stages.size() != static_cast<std::size_t>(w.stages) && w.costs.stages.size() != static_cast<std::size_t>(w.logical_stages()))
    return Result<schedule::Workload>::failure("the cost table has " + std::to_string(w.costs.stages.size()) + " rows, need " +
                                               std::to_string(w.stages) + " or " + std::to_string(w.logical_stages()));
  if (auto why = schedule::detail::flush_version_problem(w); !why.empty()) return Result<schedule::Workload>::failure(why);
  return w;
}

/// The fastest of the student variants with the teacher filled in, for `w` as it is.
inline Result<schedule::Generated> generate_virtual_stages(std::string_view name, const schedule::Workload& w) {
  const schedule::Workload student = without_teacher(w);
  std::optional<schedule::Generated> best;
  double best_time = 0.0;
  const bool split = w.split == schedule::BackwardSplit::input_weight;
  for (bool depth_first : {true, false})
    for (bool defer : {false, true})
      for (double overrun : {0.0, 1.0}) {
        if ((!defer || !split) && (defer || overrun > 0.0)) continue;  // the overrun only matters for deferred weights
        auto order = virtual_stage_student(student, {depth_first, defer, overrun});
        if (!order) return schedule::detail::fail(name, order.message());
        schedule::Generated candidate{w, std::move(order).value()};
        double time = 0.0;
        if (w.has_teacher()) {
          auto filled = fill_teacher(candidate.schedule, w);
          if (!filled) return schedule::detail::fail(name, filled.message());
          time = filled.value().time_per_batch;
          candidate.schedule = std::move(filled.value().filled.schedule);
        } else {
          auto r = sim::simulate(candidate.schedule, w);
          if (!r) return schedule::detail::fail(name, "internal error: " + r.message());
          time = r.value().time_per_batch;
        }
        if (best && time >= best_time * (1.0 - 1e-12)) continue;
        best = std::move(candidate);
        best_time = time;
      }
  best->schedule.generator = std::string(name);
  return *best;
}

}  // namespace detail

/// interleaved-1f1b: v = w.chunks chunks per device (2 when w has one and choose_chunks is set),
/// chunk c of device d being stage c·S + d; the student 1F1B-style, the teacher in its gaps.
inline Result<schedule::Generated> generate_interleaved_1f1b(const schedule::Workload& w) {
  constexpr std::string_view name = "interleaved-1f1b";
  auto chunked = detail::virtual_stage_workload(w, schedule::ChunkPlacement::interleaved);
  if (!chunked) return schedule::detail::fail(name, chunked.message());
  return detail::generate_virtual_stages(name, chunked.value());
}

/// zbv: two chunks per device in a V (device d holds stages d and 2S − 1 − d); with the BI/BW
/// split (the workload's, or chosen when choose_split allows) weight gradients fill the gaps.
inline Result<schedule::Generated> generate_zbv(const schedule::Workload& w) {
  constexpr std::string_view name = "zbv";
  auto chunked = detail::virtual_stage_workload(w, schedule::ChunkPlacement::v_shape);
  if (!chunked) return schedule::detail::fail(name, chunked.message());
  schedule::Workload v = chunked.value();
  if (v.choose_split && v.split == schedule::BackwardSplit::full) v.split = schedule::BackwardSplit::input_weight;
  return detail::generate_virtual_stages(name, v);
}

}  // namespace tspipe::planning
