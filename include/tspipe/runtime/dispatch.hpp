#pragma once
// How a pipeline worker picks its next action (DESIGN §2, issue "cost-aware tspipe", item 2).
//
// In order: the worker runs its device's list exactly as generated, waiting on the transport for
// each input. This is what the validator checked and what the simulator predicts.
//
// Dynamic: the worker runs, among the actions of its device's list not yet run, the
// highest-priority one whose inputs are ready. Readiness uses the same dependency rules the
// validator applies (schedule::for_each_dependency: data, versions, teacher-version overwrites),
// so every order it produces is one the validator would accept; when the real costs differ from
// the model the static order was planned with, a device no longer idles waiting for an action
// whose input is late while another action of its list could run. Priority: the student's work
// (forwards, loss, backwards, optimizer, EMA) before teacher forwards, which only fill gaps;
// within each of the two classes, the position in the static list decides.
// A frozen teacher's forwards stay within `teacher_lookahead` batches of the student (their
// outputs wait for the loss, so running further ahead would only cost memory).
//
// Dynamic dispatch reads every stage's progress, so all stages must run in one process.
#include <tspipe/error.hpp>
#include <tspipe/schedule/dependencies.hpp>
#include <tspipe/schedule/schedule.hpp>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tspipe::runtime {

enum class Dispatch : std::uint8_t {
  in_order,  ///< each device's list strictly in order
  dynamic,   ///< the highest-priority ready action of the device's list
};

inline const char* to_string(Dispatch d) { return d == Dispatch::in_order ? "in-order" : "dynamic"; }

class ActionDispatcher {
 public:
  /// `schedule` must have passed the validator for `workload`.
  ActionDispatcher(const schedule::Schedule& schedule, const schedule::Workload& workload, Dispatch mode)
      : mode_(mode), workload_(workload), index_(workload_), devices_(schedule.devices.size()) {
    if (mode_ == Dispatch::dynamic) done_.assign(index_.size(), 0);
    for (std::size_t j = 0; j < schedule.devices.size(); ++j) {
      auto& pending = devices_[j].pending;
      const auto& list = schedule.devices[j];
      pending.reserve(list.size());
      for (const schedule::Action& a : list)
        pending.push_back({a, mode_ == Dispatch::dynamic && a.kind == schedule::ActionKind::TeacherForward});
      // Student work first; within each class the static order (a stable sort keeps it).
      if (mode_ == Dispatch::dynamic)
        std::stable_sort(pending.begin(), pending.end(),
                         [](const Pending& a, const Pending& b) { return a.filler < b.filler; });
    }
  }

  Dispatch mode() const { return mode_; }

  /// Device j's next action: in order, the next of its list; dynamic, the best ready one, waiting
  /// until one is ready. Nothing once the list is done or after stop(). A failure when no action
  /// became ready within `patience`, naming what the first waiting action waits for.
  Result<std::optional<schedule::Action>> next(int device, std::chrono::milliseconds patience) {
    Device& d = devices_.at(static_cast<std::size_t>(device));
    if (mode_ == Dispatch::in_order) {
      if (d.taken == d.pending.size()) return std::optional<schedule::Action>{};
      return std::optional<schedule::Action>{d.pending[d.taken++].action};
    }
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      if (stopped_) return std::optional<schedule::Action>{};
      if (d.taken == d.pending.size()) return std::optional<schedule::Action>{};
      for (std::size_t i = d.first_open; i < d.pending.size(); ++i) {
        Pending& p = d.pending[i];
        if (p.running || !ready(p.action)) continue;
        p.running = true;
        ++d.taken;
        while (d.first_open < d.pending.size() && d.pending[d.first_open].running) ++d.first_open;
        return std::optional<schedule::Action>{p.action};
      }
      if (std::chrono::steady_clock::now() >= deadline || progress_.wait_until(lock, deadline) == std::cv_status::timeout) {
        if (stopped_) return std::optional<schedule::Action>{};
        return Result<std::optional<schedule::Action>>::failure(
            "device " + std::to_string(device) + " found no ready action for " + std::to_string(patience.count()) + " ms; " +
            describe_wait(d));
      }
    }
  }

  /// Marks `a` as run, so that actions waiting on it become ready.
  void finished(const schedule::Action& a) {
    if (mode_ == Dispatch::in_order) return;
    {
      std::lock_guard lock(mutex_);
      done_[index_.index_unchecked(a)] = 1;
    }
    progress_.notify_all();
  }

  /// Ends every wait: next() returns nothing from now on (a worker failed).
  void stop() {
    if (mode_ == Dispatch::in_order) return;
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
    }
    progress_.notify_all();
  }

 private:
  struct Pending {
    schedule::Action action;
    bool filler = false;   ///< teacher forward: runs only when no student action is ready
    bool running = false;  ///< handed to the worker (dynamic)
  };
  struct Device {
    std::vector<Pending> pending;  ///< in priority order
    std::size_t taken = 0;         ///< how many have been handed out
    std::size_t first_open = 0;    ///< dynamic: everything before it has been handed out
  };

  bool done(const schedule::Action& a) const { return done_[index_.index_unchecked(a)] != 0; }

  /// The first unmet condition of `a`, or nothing when it may run now (caller holds the lock).
  std::optional<schedule::Action> unmet(const schedule::Action& a) const {
    std::optional<schedule::Action> missing;
    schedule::for_each_dependency(workload_, a, [&](const schedule::Action& producer, schedule::DependencyKind) {
      if (done(producer)) return true;
      missing = producer;
      return false;
    });
    if (missing) return missing;
    // A frozen teacher's forward of batch b runs once the student has finished batch b − 1 − L.
    if (a.kind == schedule::ActionKind::TeacherForward && !workload_.momentum()) {
      const int finished_batch = a.batch - 1 - workload_.teacher_lookahead;
      if (finished_batch >= 0) {
        const schedule::Action step = schedule::optimizer_step(a.stage, finished_batch);
        if (!done(step)) return step;
      }
    }
    return std::nullopt;
  }
  bool ready(const schedule::Action& a) const { return !unmet(a); }

  std::string describe_wait(const Device& d) const {
    for (std::size_t i = d.first_open; i < d.pending.size(); ++i) {
      const Pending& p = d.pending[i];
      if (p.running) continue;
      const auto missing = unmet(p.action);
      return "its first waiting action " + schedule::to_token(p.action) + " waits for " +
             (missing ? schedule::to_token(*missing) : std::string("nothing (a lost wake-up)"));
    }
    return "every action has been handed out";
  }

  Dispatch mode_;
  schedule::Workload workload_;
  schedule::ActionIndex index_;  ///< refers to workload_
  std::vector<Device> devices_;
  std::mutex mutex_;
  std::condition_variable progress_;
  std::vector<std::uint8_t> done_;  ///< dynamic: per action index, whether it has run
  bool stopped_ = false;
};

}  // namespace tspipe::runtime
