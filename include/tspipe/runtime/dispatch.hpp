#pragma once
// How a pipeline worker picks its next action (docs/design.md §2).
//
// In order: the worker runs its device's list exactly as generated, waiting on the transport for
// each input. This is what the validator checked and what the simulator predicts.
//
// Dynamic: the worker runs, among the actions of its device's list not yet run, the highest-
// priority one whose inputs are ready (schedule::DynamicOrder: the validator's dependency rules,
// student work before teacher forwards). When the real costs differ from the model the static
// order was planned with, a device then no longer idles waiting for an action whose input is late
// while another action of its list could run. sim::simulate_dynamic predicts the same policy.
//
// Dynamic dispatch reads every stage's progress, so all stages must run in one process.
#include <tspipe/error.hpp>
#include <tspipe/schedule/dynamic_order.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace tspipe::runtime {

using schedule::Dispatch;

class ActionDispatcher {
 public:
  /// `schedule` must have passed the validator for `workload` and outlive the dispatcher.
  ActionDispatcher(const schedule::Schedule& schedule, const schedule::Workload& workload, Dispatch mode)
      : mode_(mode), lists_(schedule.devices), cursors_(schedule.devices.size(), 0) {
    if (mode_ == Dispatch::dynamic) dynamic_.emplace(schedule, workload);
  }

  Dispatch mode() const { return mode_; }

  /// Device j's next action: in order, the next of its list; dynamic, the best ready one, waiting
  /// until one is ready. Nothing once the list is done or after stop(). A failure when no action
  /// became ready within `patience`, naming what the first waiting action waits for.
  Result<std::optional<schedule::Action>> next(int device, std::chrono::milliseconds patience) {
    using Next = std::optional<schedule::Action>;
    if (mode_ == Dispatch::in_order) {
      std::size_t& cursor = cursors_.at(static_cast<std::size_t>(device));
      const auto& list = lists_[static_cast<std::size_t>(device)];  // read-only: no lock
      return cursor == list.size() ? Next{} : Next{list[cursor++]};
    }
    std::unique_lock lock(mutex_);
    const auto deadline = std::chrono::steady_clock::now() + patience;
    for (;;) {
      if (stopped_ || dynamic_->exhausted(device)) return Next{};
      if (auto a = dynamic_->take(device)) return Next{*a};
      if (std::chrono::steady_clock::now() >= deadline || progress_.wait_until(lock, deadline) == std::cv_status::timeout) {
        if (stopped_) return Next{};
        if (auto a = dynamic_->take(device)) return Next{*a};
        return Result<Next>::failure("device " + std::to_string(device) + " found no ready action for " +
                                     std::to_string(patience.count()) + " ms; " + dynamic_->describe_wait(device));
      }
    }
  }

  /// Marks `a` as run, so that actions waiting on it become ready.
  void finished(const schedule::Action& a) {
    if (mode_ == Dispatch::in_order) return;
    {
      std::lock_guard lock(mutex_);
      dynamic_->finish(a);
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
  Dispatch mode_;
  // In order: each worker reads only its own list and cursor, so no lock.
  const std::vector<std::vector<schedule::Action>>& lists_;  ///< the schedule's, not a copy
  std::vector<std::size_t> cursors_;
  // Dynamic: shared progress, under the lock.
  std::optional<schedule::DynamicOrder> dynamic_;
  std::mutex mutex_;
  std::condition_variable progress_;
  bool stopped_ = false;
};

}  // namespace tspipe::runtime
