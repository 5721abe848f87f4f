#pragma once
// Dynamic dispatch's choice, without threads or clocks of its own (docs/design.md §2.8): among the actions of a device's list not yet started, the highest-priority one whose
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
#include <functional>
#include <limits>
#include <optional>
#include <queue>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::schedule {

/// How a device picks its next action.
enum class Dispatch : std::uint8_t {
  in_order,  ///< its list strictly in order (what the generators plan)
  dynamic,   ///< the highest-priority ready action of its list (DynamicOrder)
};

inline const char* to_string(Dispatch d) { return d == Dispatch::in_order ? "in-order" : "dynamic"; }

/// Readiness is tracked by counting: each action knows how many of its producers have not yet
/// finished, and a finish hands its consumers to their device the moment the count reaches zero.
/// A device keeps those released actions by the time their inputs arrive and, once arrived, by
/// priority, so a take costs a heap operation, not a scan of everything still pending.
class DynamicOrder {
 public:
  /// `schedule` must have passed the validator for `workload` (its lists fix placement and the
  /// static positions that break ties); an action outside the workload or listed twice throws
  /// tspipe::Error naming it.
  DynamicOrder(const Schedule& schedule, const Workload& workload)
      : workload_(workload), index_(workload_), devices_(schedule.devices.size()) {
    if (Status ok = workload_.check(); !ok) throw Error("DynamicOrder: " + ok.message());
    const std::size_t n = index_.size();
    finish_.assign(n, 0.0);
    done_.assign(n, false);
    rank_.assign(n, kNotListed);
    device_.assign(n, 0);
    for (std::size_t j = 0; j < schedule.devices.size(); ++j) {
      // Priority: the student's work in list order, then the teacher's forwards in list order.
      auto& order = devices_[j].order;
      order.reserve(schedule.devices[j].size());
      for (const bool filler : {false, true})
        for (const Action& a : schedule.devices[j]) {
          if ((a.kind == ActionKind::TeacherForward) != filler) continue;
          const auto i = index_.find(a);
          if (!i || rank_[*i] != kNotListed)
            throw Error("DynamicOrder: " + to_token(a) + (i ? " is listed twice" : " does not belong to the workload") +
                        " (validate the schedule first)");
          rank_[*i] = static_cast<std::uint32_t>(order.size());
          device_[*i] = static_cast<std::uint32_t>(j);
          order.push_back(static_cast<std::uint32_t>(*i));
        }
    }
    // Producers still to finish per listed action, and every action's listed consumers (CSR).
    unfinished_.assign(n, 0);
    first_consumer_.assign(n + 1, 0);
    for_each_edge([&](std::size_t consumer, std::size_t producer) {
      ++unfinished_[consumer];
      ++first_consumer_[producer + 1];
    });
    for (std::size_t i = 0; i < n; ++i) first_consumer_[i + 1] += first_consumer_[i];
    consumers_.resize(first_consumer_[n]);
    std::vector<std::size_t> fill(first_consumer_.begin(), first_consumer_.end() - 1);
    for_each_edge([&](std::size_t consumer, std::size_t producer) {
      consumers_[fill[producer]++] = static_cast<std::uint32_t>(consumer);
    });
    for (Device& d : devices_)
      for (std::uint32_t i : d.order)
        if (unfinished_[i] == 0) d.released.push_back(i);
  }

  /// Whether every action of device j has been taken.
  bool exhausted(int device) const {
    const Device& d = devices_.at(static_cast<std::size_t>(device));
    return d.taken == d.order.size();
  }

  /// Takes device j's best action that is ready at time `now`, or nothing. `arrival(producer,
  /// consumer, producer_finish)` says when a finished producer's result can be used (a transfer
  /// across devices); pass one returning the finish time when there is no clock. Per device,
  /// `now` must not decrease from one call to the next and `arrival` must be the same function.
  template <class Arrival>
  std::optional<Action> take(int device, double now, Arrival&& arrival) {
    Device& d = devices_.at(static_cast<std::size_t>(device));
    if (now < d.now) throw Error("DynamicOrder::take: device " + std::to_string(device) + " asked at an earlier time than before");
    d.now = now;
    // Actions whose producers have all finished: when their last input arrives.
    for (const std::uint32_t i : d.released) {
      const Action a = index_.action_at(i);
      double ready = 0.0;
      for_each_producer(a, [&](const Action& producer) {
        ready = std::max(ready, arrival(producer, a, finish_[index_.index_unchecked(producer)]));
        return true;
      });
      d.arriving.emplace(ready, rank_[i]);
    }
    d.released.clear();
    while (!d.arriving.empty() && d.arriving.top().first <= now) {
      d.ready.push(d.arriving.top().second);
      d.arriving.pop();
    }
    if (d.ready.empty()) return std::nullopt;
    const std::uint32_t rank = d.ready.top();
    d.ready.pop();
    const std::uint32_t i = d.order[rank];
    rank_[i] = kTaken;
    ++d.taken;
    return index_.action_at(i);
  }
  std::optional<Action> take(int device) { return take(device, 0.0, immediate); }

  /// Records that `a` finished at time `at` (a repeat is ignored).
  void finish(const Action& a, double at = 0.0) {
    const auto i = index_.find(a);
    if (!i) throw Error("DynamicOrder::finish: " + to_token(a) + " does not belong to the workload");
    if (done_[*i]) return;
    done_[*i] = true;
    finish_[*i] = at;
    for (std::size_t c = first_consumer_[*i]; c < first_consumer_[*i + 1]; ++c) {
      const std::uint32_t consumer = consumers_[c];
      if (--unfinished_[consumer] == 0 && rank_[consumer] != kTaken) devices_[device_[consumer]].released.push_back(consumer);
    }
  }

  /// For a device that found nothing ready: its first waiting action and what that waits for.
  std::string describe_wait(int device) const {
    const Device& d = devices_.at(static_cast<std::size_t>(device));
    for (const std::uint32_t i : d.order) {
      if (rank_[i] == kTaken) continue;
      const Action a = index_.action_at(i);
      std::optional<Action> missing;
      for_each_producer(a, [&](const Action& producer) {
        if (done_[index_.index_unchecked(producer)]) return true;
        missing = producer;
        return false;
      });
      return "its first waiting action " + to_token(a) + " waits for " +
             (missing ? to_token(*missing) : std::string("nothing (it is ready)"));
    }
    return "every action has been handed out";
  }

  const Workload& workload() const { return workload_; }

 private:
  static constexpr std::uint32_t kNotListed = std::numeric_limits<std::uint32_t>::max();
  static constexpr std::uint32_t kTaken = kNotListed - 1;
  static double immediate(const Action&, const Action&, double finish) { return finish; }

  struct Device {
    std::vector<std::uint32_t> order;     ///< dense indices in priority order
    std::vector<std::uint32_t> released;  ///< every producer finished; arrival not yet computed
    using Arriving = std::pair<double, std::uint32_t>;  ///< (inputs usable at, rank)
    std::priority_queue<Arriving, std::vector<Arriving>, std::greater<>> arriving;
    std::priority_queue<std::uint32_t, std::vector<std::uint32_t>, std::greater<>> ready;  ///< ranks
    std::size_t taken = 0;
    double now = 0.0;
  };

  /// What `a` waits for: the validator's dependencies and, for a frozen teacher's forward of
  /// batch b, the student's OPT of batch b − 1 − L on its stage.
  template <class Visit>
  void for_each_producer(const Action& a, Visit&& visit) const {
    bool go_on = true;
    for_each_dependency(workload_, a, [&](const Action& producer, DependencyKind) { return go_on = visit(producer); });
    if (!go_on || a.kind != ActionKind::TeacherForward || workload_.momentum()) return;
    const int student_done = a.batch - 1 - workload_.teacher_lookahead;
    if (student_done >= 0) visit(optimizer_step(a.stage, student_done));
  }
  /// Calls `edge(consumer, producer)` for every producer of every listed action.
  template <class Edge>
  void for_each_edge(Edge&& edge) const {
    for (const Device& d : devices_)
      for (const std::uint32_t i : d.order)
        for_each_producer(index_.action_at(i), [&](const Action& producer) {
          edge(i, index_.index_unchecked(producer));
          return true;
        });
  }

  Workload workload_;
  ActionIndex index_;                       ///< refers to workload_
  std::vector<double> finish_;              ///< per action index: when it finished
  std::vector<bool> done_;                  ///< per action index: finished
  std::vector<std::uint32_t> rank_;         ///< per action index: priority on its device, kNotListed or kTaken
  std::vector<std::uint32_t> device_;       ///< per action index: its device
  std::vector<std::uint32_t> unfinished_;   ///< per action index: producers not yet finished
  std::vector<std::size_t> first_consumer_; ///< per action index: its consumers in consumers_
  std::vector<std::uint32_t> consumers_;
  std::vector<Device> devices_;
};

}  // namespace tspipe::schedule
