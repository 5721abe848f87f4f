#pragma once
// Dynamic dispatch's choice, without threads or clocks of its own (issue "cost-aware tspipe",
// item 2): among the actions of a device's list not yet started, the highest-priority one whose
// inputs are ready. The runtime's dispatcher (runtime/dispatch.hpp) calls it under a lock as
// workers finish actions; the simulator (sim/dynamic.hpp) calls it on simulated time.
//
// Readiness is the validator's dependency rules (for_each_dependency: data, versions, teacher-
// version overwrites), so every order it produces is one the validator accepts. On top of them a
// frozen teacher's forward of batch b waits for the student's OPT of batch b − 1 − L on its stage
// (L = teacher_lookahead): its outputs wait for the loss, so running further ahead only costs
// memory. Priority: the student's work (forwards, loss, backwards, optimizer, EMA) before teacher
// forwards, which fill the gaps; within each class, the position in the static list.
#include <tspipe/schedule/dependencies.hpp>
#include <tspipe/schedule/schedule.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tspipe::schedule {

/// How a device picks its next action.
enum class Dispatch : std::uint8_t {
  in_order,  ///< its list strictly in order (what the generators plan)
  dynamic,   ///< the highest-priority ready action of its list (DynamicOrder)
};

inline const char* to_string(Dispatch d) { return d == Dispatch::in_order ? "in-order" : "dynamic"; }

class DynamicOrder {
 public:
  /// `schedule` must have passed the validator for `workload` (its lists fix placement and the
  /// static positions that break ties).
  DynamicOrder(const Schedule& schedule, const Workload& workload)
      : workload_(workload), index_(workload_), finish_(index_.size(), kNotDone), devices_(schedule.devices.size()) {
    for (std::size_t j = 0; j < schedule.devices.size(); ++j) {
      auto& pending = devices_[j].pending;
      for (const Action& a : schedule.devices[j]) pending.push_back({a, a.kind == ActionKind::TeacherForward});
      std::stable_sort(pending.begin(), pending.end(), [](const Pending& a, const Pending& b) { return a.filler < b.filler; });
    }
  }

  /// Whether every action of device j has been taken.
  bool exhausted(int device) const {
    const Device& d = devices_.at(static_cast<std::size_t>(device));
    return d.taken == d.pending.size();
  }

  /// Takes device j's best action that is ready at time `now`, or nothing. `arrival(producer,
  /// consumer, producer_finish)` says when a finished producer's result can be used (a transfer
  /// across devices); pass one returning the finish time when there is no clock.
  template <class Arrival>
  std::optional<Action> take(int device, double now, Arrival&& arrival) {
    Device& d = devices_.at(static_cast<std::size_t>(device));
    for (std::size_t i = d.first_open; i < d.pending.size(); ++i) {
      Pending& p = d.pending[i];
      if (p.taken || unmet(p.action, now, arrival)) continue;
      p.taken = true;
      ++d.taken;
      while (d.first_open < d.pending.size() && d.pending[d.first_open].taken) ++d.first_open;
      return p.action;
    }
    return std::nullopt;
  }
  std::optional<Action> take(int device) { return take(device, 0.0, immediate); }

  /// Records that `a` finished at time `at`.
  void finish(const Action& a, double at = 0.0) { finish_[index_.index_unchecked(a)] = at; }

  /// For a device that found nothing ready: its first waiting action and what that waits for.
  std::string describe_wait(int device) const {
    const Device& d = devices_.at(static_cast<std::size_t>(device));
    for (std::size_t i = d.first_open; i < d.pending.size(); ++i) {
      if (d.pending[i].taken) continue;
      const auto missing = unmet(d.pending[i].action, kForever, immediate);
      return "its first waiting action " + to_token(d.pending[i].action) + " waits for " +
             (missing ? to_token(*missing) : std::string("nothing (it is ready)"));
    }
    return "every action has been handed out";
  }

  const Workload& workload() const { return workload_; }

 private:
  static constexpr double kNotDone = -1.0;
  static constexpr double kForever = 1e300;
  static double immediate(const Action&, const Action&, double finish) { return finish; }

  struct Pending {
    Action action;
    bool filler = false;  ///< teacher forward: runs only when no student action is ready
    bool taken = false;
  };
  struct Device {
    std::vector<Pending> pending;  ///< in priority order
    std::size_t taken = 0;
    std::size_t first_open = 0;  ///< every action before it has been taken
  };

  /// The first producer of `a` whose result is not usable at `now`, or nothing when `a` may run.
  template <class Arrival>
  std::optional<Action> unmet(const Action& a, double now, Arrival&& arrival) const {
    const auto usable = [&](const Action& producer) {
      const double f = finish_[index_.index_unchecked(producer)];
      return f != kNotDone && arrival(producer, a, f) <= now;
    };
    std::optional<Action> missing;
    for_each_dependency(workload_, a, [&](const Action& producer, DependencyKind) {
      if (usable(producer)) return true;
      missing = producer;
      return false;
    });
    if (missing) return missing;
    if (a.kind == ActionKind::TeacherForward && !workload_.momentum()) {
      const int student_done = a.batch - 1 - workload_.teacher_lookahead;
      if (student_done >= 0 && !usable(optimizer_step(a.stage, student_done))) return optimizer_step(a.stage, student_done);
    }
    return std::nullopt;
  }

  Workload workload_;
  ActionIndex index_;           ///< refers to workload_
  std::vector<double> finish_;  ///< per action index: when it finished, or kNotDone
  std::vector<Device> devices_;
};

}  // namespace tspipe::schedule
