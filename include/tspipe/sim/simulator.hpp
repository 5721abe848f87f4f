#pragma once
// The schedule simulator of docs/design.md §2: every device executes its list in order; an action starts
// when the device is free and its inputs have arrived (plus a transfer cost across devices).
// Reports steady-state time per batch, utilisation, bubbles, peak memory and versions held.
#include <tspipe/schedule/replay.hpp>

#include <algorithm>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::sim {

using schedule::Action;
using schedule::ActionKind;
using schedule::Schedule;
using schedule::Workload;

struct TimedAction {
  Action action;
  double start = 0.0;
  double end = 0.0;
};

struct SimulationResult {
  Workload workload;
  std::string generator;
  std::vector<std::vector<TimedAction>> timeline;  ///< per device, in list order
  double makespan = 0.0;

  // Steady state: measured between the ends of two batches in the second half of the run
  // (batch b ends when its last OPT/EMA finishes), so warm-up and drain do not count.
  int window_first_batch = 0, window_last_batch = 0;
  double time_per_batch = 0.0;
  double throughput = 0.0;  ///< batches per time unit
  std::vector<double> utilisation_per_device;
  double utilisation = 0.0;  ///< mean over devices
  double bubble_fraction = 0.0;
  double serial_time_per_batch = 0.0;  ///< every action of a batch one after another
  double speedup_vs_serial = 0.0;      ///< = utilisation × S

  std::vector<double> peak_activation_memory;  ///< per device: student activations + teacher outputs
  std::vector<int> peak_teacher_outputs;       ///< per device: teacher output slices held for LOSS
  std::vector<int> teacher_versions_held;      ///< per device: most teacher versions alive at once
};

/// What one action really costs, when it is not the workload's cost model (e.g. per-action noise).
using ActionCost = std::function<double(const Action&)>;

namespace detail {

/// What `a` costs: the workload's (checked by Workload::check), or `cost`'s when given, which
/// must also be finite and in [0, 1e18]; the first that is not is described in `bad` and counts
/// as 0, so a bad cost function ends in an error, never in a time the simulator cannot order.
inline double cost_of(const ActionCost& cost, const Workload& w, const Action& a, std::string& bad) {
  if (!cost) return w.action_cost(a);
  const double c = cost(a);
  if (schedule::value_in_range(c)) return c;
  if (bad.empty()) bad = schedule::to_token(a) + " costs " + schedule::shown(c) + " (need a finite value in [0, 1e18])";
  return 0.0;
}

/// When each batch is complete: the latest end of its OPT/EMA over all stages.
inline std::vector<double> batch_ends(const SimulationResult& r) {
  std::vector<double> ends(static_cast<std::size_t>(r.workload.batches), 0.0);
  for (const auto& device : r.timeline)
    for (const TimedAction& t : device)
      if (t.action.kind == ActionKind::Optimizer || t.action.kind == ActionKind::Ema)
        ends[static_cast<std::size_t>(t.action.batch)] = std::max(ends[static_cast<std::size_t>(t.action.batch)], t.end);
  return ends;
}

inline void steady_state(SimulationResult& r) {
  const int N = r.workload.batches;
  const std::vector<double> ends = batch_ends(r);
  double from = 0.0, to = r.makespan;
  int batches_in_window = N;
  // The last batch drains (nothing of the next batch overlaps it), so the window stops one
  // batch short of it; it starts halfway, after the pipeline has filled.
  if (N >= 4) {
    r.window_first_batch = (N - 1) / 2;
    r.window_last_batch = N - 2;
    from = ends[static_cast<std::size_t>(r.window_first_batch)];
    to = ends[static_cast<std::size_t>(r.window_last_batch)];
    batches_in_window = r.window_last_batch - r.window_first_batch;
  } else {
    r.window_first_batch = -1;
    r.window_last_batch = N - 1;
  }
  const double span = to - from;
  r.time_per_batch = span / batches_in_window;
  r.throughput = r.time_per_batch > 0.0 ? 1.0 / r.time_per_batch : 0.0;
  r.utilisation_per_device.assign(r.timeline.size(), 0.0);
  double total = 0.0;
  for (std::size_t j = 0; j < r.timeline.size(); ++j) {
    double busy = 0.0;
    for (const TimedAction& t : r.timeline[j]) busy += std::max(0.0, std::min(t.end, to) - std::max(t.start, from));
    r.utilisation_per_device[j] = span > 0.0 ? busy / span : 0.0;
    total += r.utilisation_per_device[j];
  }
  r.utilisation = r.timeline.empty() ? 0.0 : total / static_cast<double>(r.timeline.size());
  r.bubble_fraction = 1.0 - r.utilisation;
}

/// Peak memory per device (summed over its chunks). Every acquire and release on device j happens at the start or end of
/// one of device j's own actions (FS saves at its start, the last backward of that slice frees
/// at its end; a last-stage FT's output is held from its end until LOSS ends), and a device runs
/// its actions one after another, so one pass in list order visits the events in time order.
inline void memory(SimulationResult& r, const schedule::ActionIndex& index) {
  const Workload& w = r.workload;
  const std::size_t D = r.timeline.size();
  const bool halves = w.split == schedule::BackwardSplit::halves;
  const ActionKind frees = w.split == schedule::BackwardSplit::input_weight ? ActionKind::BackwardWeight
                                                                            : ActionKind::StudentBackward;
  // Backward slices still to run per student forward (2 under the halves split).
  std::vector<std::uint8_t> pending(index.size(), static_cast<std::uint8_t>(halves ? 2 : 1));
  r.peak_activation_memory.assign(D, 0.0);
  r.peak_teacher_outputs.assign(D, 0);
  for (std::size_t j = 0; j < D; ++j) {
    double bytes = 0.0;
    int slices = 0;
    // Teacher outputs held, by the LOSS that consumes them: the batch's, or under a
    // per-micro-batch loss the micro-batch's.
    const std::size_t losses = static_cast<std::size_t>(w.losses_per_batch());
    const auto consumer = [&](const Action& a) {
      return static_cast<std::size_t>(a.batch) * losses + (losses > 1 ? static_cast<std::size_t>(a.micro_batch) : 0);
    };
    std::vector<double> teacher_bytes(static_cast<std::size_t>(w.batches) * losses, 0.0);
    std::vector<int> teacher_slices(static_cast<std::size_t>(w.batches) * losses, 0);
    for (const TimedAction& t : r.timeline[j]) {
      const Action& a = t.action;
      if (a.kind == ActionKind::StudentForward) bytes += w.activation_per_slice(a.stage);
      if (a.kind == ActionKind::TeacherForward && a.stage == w.last_stage()) {
        const double held = w.stage_costs(a.stage).teacher_output_memory / w.micro_batches;
        bytes += held;
        teacher_bytes[consumer(a)] += held;
        ++teacher_slices[consumer(a)];
        ++slices;
      }
      r.peak_activation_memory[j] = std::max(r.peak_activation_memory[j], bytes);
      r.peak_teacher_outputs[j] = std::max(r.peak_teacher_outputs[j], slices);
      if (a.kind == frees) {
        const int u = halves ? a.micro_batch / 2 : a.micro_batch;
        const std::size_t f = index.index_unchecked(schedule::student_forward(a.stage, a.batch, a.view, u));
        if (--pending[f] == 0) bytes -= w.activation_per_slice(a.stage);
      }
      if (a.kind == ActionKind::Loss) {
        // LOSS consumes its batch's (or micro-batch's) teacher outputs; a frozen teacher may
        // already hold later ones, which stay.
        bytes -= teacher_bytes[consumer(a)];
        slices -= teacher_slices[consumer(a)];
      }
    }
  }
}

/// Teacher versions alive on each device: after EMA:s.b, ξ_{b+1} exists and every older version
/// a later FT on that device still reads must be kept.
inline void versions(SimulationResult& r) {
  const Workload& w = r.workload;
  r.teacher_versions_held.assign(r.timeline.size(), 1);
  if (!w.momentum()) return;
  for (std::size_t j = 0; j < r.timeline.size(); ++j) {
    const auto& list = r.timeline[j];
    int oldest_read_later = w.batches + 1;
    int held = 1;
    for (std::size_t p = list.size(); p-- > 0;) {
      const Action& a = list[p].action;
      if (a.kind == ActionKind::TeacherForward) oldest_read_later = std::min(oldest_read_later, w.teacher_version_read(a.batch));
      if (a.kind == ActionKind::Ema) held = std::max(held, a.batch + 1 - std::min(oldest_read_later, a.batch + 1) + 1);
    }
    r.teacher_versions_held[j] = held;
  }
}

}  // namespace detail

/// Serial time of one batch: every action of batch 0 run one after another.
inline double serial_time_per_batch(const Workload& w) {
  const schedule::ActionIndex index(w);
  double total = 0.0;
  index.for_each_in_batch(0, [&](const Action& a) { total += w.action_cost(a); });
  return total;
}

namespace detail {
/// Every metric of a finished timeline (each device's actions in time order).
inline void summarise(SimulationResult& r, const schedule::ActionIndex& index) {
  steady_state(r);
  memory(r, index);
  versions(r);
  r.serial_time_per_batch = serial_time_per_batch(r.workload);
  r.speedup_vs_serial = r.time_per_batch > 0.0 ? r.serial_time_per_batch / r.time_per_batch : 0.0;
}

/// A workload that checks out and a schedule with one list per stage, or what is wrong.
inline Status check_fit(const std::string& caller, const Schedule& schedule, const Workload& workload) {
  if (Status ok = workload.check(); !ok) return Status::failure(caller + ": " + ok.message());
  if (static_cast<int>(schedule.devices.size()) != workload.stages)
    return Status::failure(caller + ": schedule has " + std::to_string(schedule.devices.size()) + " devices, the workload " +
                           std::to_string(workload.stages) + " stages");
  return {};
}

/// When a finished producer's result is usable by a consumer: at once on the same device (two
/// chunks of one device included), else after the transfer across the boundary of the two
/// neighbouring logical stages the edge joins.
inline double arrival(const Workload& w, const Action& producer, const Action& consumer, double finish) {
  if (producer.stage == consumer.stage || schedule::device_of(w, producer) == schedule::device_of(w, consumer)) return finish;
  return finish + w.transfer_cost(std::min(producer.stage, consumer.stage));
}
}  // namespace detail

/// Simulates `schedule` for `workload`. Fails (naming the stuck device and action) when the
/// schedule cannot run to the end; validate first for a full report of what is wrong. Actions
/// cost `workload.action_cost` unless `cost` is given.
inline Result<SimulationResult> simulate(const Schedule& schedule, const Workload& workload, const ActionCost& cost = {}) {
  if (Status ok = detail::check_fit("simulate", schedule, workload); !ok) return ok;
  SimulationResult r;
  r.workload = workload;
  r.generator = schedule.generator;
  const schedule::ActionIndex index(r.workload);
  const schedule::Placement placement(schedule, index);
  std::size_t present = 0;
  for (std::size_t i = 0; i < index.size(); ++i) present += placement.present(i) ? 1 : 0;
  if (present != index.size() || present != schedule.num_actions())
    return Result<SimulationResult>::failure(
        "simulate: the schedule lists " + std::to_string(schedule.num_actions()) + " actions but the workload has " +
        std::to_string(index.size()) + " distinct ones (validate first)");
  r.timeline.resize(schedule.devices.size());
  for (std::size_t j = 0; j < schedule.devices.size(); ++j) r.timeline[j].reserve(schedule.devices[j].size());
  const Workload& w = r.workload;
  std::string bad_cost;
  const auto outcome = schedule::replay(
      schedule, index, placement,
      [&](int device, int, const Action& a, std::size_t, double start) {
        const double end = start + detail::cost_of(cost, w, a, bad_cost);
        r.timeline[static_cast<std::size_t>(device)].push_back({a, start, end});
        r.makespan = std::max(r.makespan, end);
        return end;
      },
      [&](const Action& producer, const Action& consumer, double finish) {
        return detail::arrival(w, producer, consumer, finish);
      });
  if (!bad_cost.empty()) return Result<SimulationResult>::failure("simulate: the action cost function says " + bad_cost);
  if (!outcome.completed) {
    const auto& s = outcome.stuck.front();
    return Result<SimulationResult>::failure(
        "simulate: device " + std::to_string(s.device) + " is stuck at position " + std::to_string(s.position) +
        " waiting for " + schedule::to_token(s.waiting_for) + " (run the validator for the full report)");
  }
  detail::summarise(r, index);
  return r;
}

}  // namespace tspipe::sim
