#pragma once
// Simulates dynamic dispatch (runtime::Dispatch::dynamic): whenever a device is free it starts the
// highest-priority action of its list that is ready at that moment (schedule::DynamicOrder, the
// same choice the runtime's workers make). The static lists fix placement and break ties; the
// workload's costs are the real ones, which may differ from the costs the lists were planned
// with (or a per-action ActionCost). Comparing simulate(schedule, real) with
// simulate_dynamic(schedule, real) tells, without timing noise, what dynamic dispatch gains when
// a profile is off.
#include <tspipe/schedule/dynamic_order.hpp>
#include <tspipe/sim/simulator.hpp>

#include <functional>
#include <queue>
#include <vector>

namespace tspipe::sim {

inline Result<SimulationResult> simulate_dynamic(const Schedule& schedule, const Workload& workload,
                                                const ActionCost& cost = {}) {
  if (Status ok = detail::check_fit("simulate_dynamic", schedule, workload); !ok) return ok;
  SimulationResult r;
  r.workload = workload;
  r.generator = schedule.generator;
  const Workload& w = r.workload;
  const schedule::ActionIndex index(w);
  if (schedule.num_actions() != index.size())
    return Result<SimulationResult>::failure("simulate_dynamic: the schedule lists " + std::to_string(schedule.num_actions()) +
                                             " actions but the workload has " + std::to_string(index.size()) + " (validate first)");
  std::vector<bool> listed(index.size(), false);
  for (const auto& device : schedule.devices)
    for (const Action& a : device) {
      const auto i = index.find(a);
      if (!i || listed[*i])
        return Result<SimulationResult>::failure("simulate_dynamic: " + schedule::to_token(a) +
                                                 (i ? " is listed twice" : " does not belong to the workload") + " (validate first)");
      listed[*i] = true;
    }
  schedule::DynamicOrder order(schedule, w);
  const std::size_t D = schedule.devices.size();
  r.timeline.resize(D);

  // Events in time order: a device finishing an action (device ≥ 0), or a result arriving over a
  // transfer (device −1), which may make an idle device's action ready.
  struct Event {
    double time;
    int device;
    Action action;
    bool operator>(const Event& other) const { return time > other.time; }
  };
  std::priority_queue<Event, std::vector<Event>, std::greater<>> events;
  std::vector<bool> busy(D, false);
  std::string bad_cost;
  const auto arrival = [&](const Action& producer, const Action& consumer, double finish) {
    return detail::arrival(w, producer, consumer, finish);
  };
  const auto start_idle_devices = [&](double now) {
    for (std::size_t j = 0; j < D; ++j) {
      if (busy[j]) continue;
      const auto a = order.take(static_cast<int>(j), now, arrival);
      if (!a) continue;
      const double end = now + detail::cost_of(cost, w, *a, bad_cost);
      r.timeline[j].push_back({*a, now, end});
      r.makespan = std::max(r.makespan, end);
      busy[j] = true;
      events.push({end, static_cast<int>(j), *a});
    }
  };

  start_idle_devices(0.0);
  while (!events.empty()) {
    const Event e = events.top();
    events.pop();
    if (e.device >= 0) {
      order.finish(e.action, e.time);
      busy[static_cast<std::size_t>(e.device)] = false;
      // Readers on a neighbouring logical stage on another device can use the result only after
      // its transfer.
      const int s = e.action.stage;
      const int device = schedule::device_of(w, e.action);
      if (s > 0 && w.device_of_stage(s - 1) != device && w.transfer_cost(s - 1) > 0.0)
        events.push({e.time + w.transfer_cost(s - 1), -1, e.action});
      if (s < w.last_stage() && w.device_of_stage(s + 1) != device && w.transfer_cost(s) > 0.0)
        events.push({e.time + w.transfer_cost(s), -1, e.action});
    }
    // Start what became ready once every event of this instant is in.
    if (events.empty() || events.top().time > e.time) start_idle_devices(e.time);
  }
  if (!bad_cost.empty()) return Result<SimulationResult>::failure("simulate_dynamic: the action cost function says " + bad_cost);
  for (std::size_t j = 0; j < D; ++j)
    if (!order.exhausted(static_cast<int>(j)))
      return Result<SimulationResult>::failure("simulate_dynamic: device " + std::to_string(j) + " cannot go on: " +
                                               order.describe_wait(static_cast<int>(j)));
  detail::summarise(r, index);
  return r;
}

}  // namespace tspipe::sim
