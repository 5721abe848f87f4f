#pragma once
// Replays a schedule the way the runtime executes it: every device runs its list strictly in
// order, and an action starts once the device is free and everything it depends on has finished.
// The validator uses it (zero costs) to find deadlocks; the simulator (with a cost model) to time.
//
// Each device blocks on at most one producer at a time, so waiters form intrusive lists, and a
// blocked action resumes where it stopped, so the whole replay is linear in actions + dependencies.
#include <tspipe/schedule/dependencies.hpp>
#include <tspipe/schedule/schedule.hpp>

#include <cstdint>
#include <limits>
#include <vector>

namespace tspipe::schedule {

inline constexpr std::size_t kAbsent = std::numeric_limits<std::size_t>::max();

/// Where each expected action sits in a schedule (device, position), or absent.
struct Placement {
  std::vector<std::int32_t> device;    ///< by dense index; −1 when absent
  std::vector<std::int32_t> position;  ///< by dense index
  std::vector<std::vector<std::size_t>> dense;  ///< per device and position: dense index or kAbsent

  Placement(const Schedule& schedule, const ActionIndex& index)
      : device(index.size(), -1), position(index.size(), -1), dense(schedule.devices.size()) {
    for (std::size_t j = 0; j < schedule.devices.size(); ++j) {
      dense[j].reserve(schedule.devices[j].size());
      for (std::size_t p = 0; p < schedule.devices[j].size(); ++p) {
        const auto i = index.find(schedule.devices[j][p]);
        if (i && device[*i] < 0) {  // duplicates keep their first place
          device[*i] = static_cast<std::int32_t>(j);
          position[*i] = static_cast<std::int32_t>(p);
          dense[j].push_back(*i);
        } else {
          dense[j].push_back(kAbsent);
        }
      }
    }
  }
  bool present(std::size_t i) const { return device[i] >= 0; }
};

struct StuckDevice {
  int device = 0;
  int position = 0;
  Action waiting_for{};  ///< the producer it waits on
};

struct ReplayOutcome {
  bool completed = true;
  std::vector<StuckDevice> stuck;  ///< every device that could not finish its list
};

/// Replays `schedule`. `execute(device, position, action, dense_index, ready_time)` is called once
/// per action in a valid execution order and returns its finish time; `arrival(producer,
/// consumer, producer_finish)` gives when the producer's result is usable by the consumer.
/// Actions the workload does not expect (and dependencies on absent actions) are skipped, so a
/// broken schedule still replays as far as it can.
template <class Execute, class Arrival>
ReplayOutcome replay(const Schedule& schedule, const ActionIndex& index, const Placement& placement,
                     Execute&& execute, Arrival&& arrival) {
  const Workload& w = index.workload();
  const std::size_t D = schedule.devices.size();
  constexpr double kNotDone = -1.0;
  std::vector<double> finish(index.size(), kNotDone);
  std::vector<std::int32_t> waiters_head(index.size(), -1);
  std::vector<std::int32_t> next_waiter(D, -1);
  std::vector<std::size_t> cursor(D, 0);
  std::vector<double> ready_at(D, 0.0), device_free(D, 0.0);
  std::vector<std::size_t> blocked_on(D, kAbsent);
  // A device blocked on a producer keeps the producers of its action still to check, from the
  // blocking one on, and resumes there: an action waiting on many producers that finish one by
  // one (on other devices, in a misplaced schedule) costs its dependencies once, not once per wait.
  struct Producer {
    Action action;
    std::size_t index;
  };
  std::vector<std::vector<Producer>> still_to_check(D);
  std::vector<std::size_t> checked(D, 0);
  std::vector<std::int32_t> runnable;
  runnable.reserve(D);
  for (std::size_t j = D; j-- > 0;) runnable.push_back(static_cast<std::int32_t>(j));

  while (!runnable.empty()) {
    const std::size_t j = static_cast<std::size_t>(runnable.back());
    runnable.pop_back();
    blocked_on[j] = kAbsent;
    const auto& list = schedule.devices[j];
    while (cursor[j] < list.size()) {
      const std::size_t p = cursor[j];
      const std::size_t self = placement.dense[j][p];
      if (self == kAbsent) {  // unexpected or duplicate: nothing to run
        ++cursor[j];
        continue;
      }
      const Action& a = list[p];
      std::size_t missing = kAbsent;
      double ready = ready_at[j];
      auto& rest = still_to_check[j];
      if (rest.empty()) {  // first look at this action
        for_each_dependency(w, a, [&](const Action& producer, DependencyKind) {
          // for_each_dependency names only actions inside the workload, so no range check here.
          const std::size_t pi = index.index_unchecked(producer);
          if (!placement.present(pi)) return true;  // absent producer: reported elsewhere
          if (missing == kAbsent && finish[pi] != kNotDone) {
            ready = std::max(ready, arrival(producer, a, finish[pi]));
            return true;
          }
          if (missing == kAbsent) missing = pi;
          rest.push_back({producer, pi});
          return true;
        });
        checked[j] = 0;
      } else {  // resumed: the producer it waited on has finished
        for (; checked[j] < rest.size(); ++checked[j]) {
          const Producer& producer = rest[checked[j]];
          if (finish[producer.index] == kNotDone) {
            missing = producer.index;
            break;
          }
          ready = std::max(ready, arrival(producer.action, a, finish[producer.index]));
        }
      }
      ready_at[j] = ready;
      if (missing != kAbsent) {
        blocked_on[j] = missing;
        next_waiter[j] = waiters_head[missing];
        waiters_head[missing] = static_cast<std::int32_t>(j);
        break;
      }
      rest.clear();
      const double start = std::max(ready, device_free[j]);
      const double end = execute(static_cast<int>(j), static_cast<int>(p), a, self, start);
      finish[self] = end;
      device_free[j] = end;
      ready_at[j] = 0.0;
      ++cursor[j];
      for (std::int32_t waiter = waiters_head[self]; waiter >= 0;) {
        const std::int32_t next = next_waiter[static_cast<std::size_t>(waiter)];
        runnable.push_back(waiter);
        waiter = next;
      }
      waiters_head[self] = -1;
    }
  }

  ReplayOutcome outcome;
  for (std::size_t j = 0; j < D; ++j) {
    if (cursor[j] >= schedule.devices[j].size()) continue;
    outcome.completed = false;
    StuckDevice stuck{static_cast<int>(j), static_cast<int>(cursor[j]), {}};
    if (blocked_on[j] != kAbsent) stuck.waiting_for = index.action_at(blocked_on[j]);
    outcome.stuck.push_back(stuck);
  }
  return outcome;
}

}  // namespace tspipe::schedule
