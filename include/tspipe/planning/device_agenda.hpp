#pragma once
// The wake-ups of list scheduling: each device is woken at a time to choose its next action, or
// sleeps until something it may wait on finishes. A newer wake-up of a device supersedes its older
// ones, so a device is never woken twice for one moment.
#include <cstddef>
#include <functional>
#include <optional>
#include <queue>
#include <tuple>
#include <utility>
#include <vector>

namespace tspipe::planning {

class DeviceAgenda {
 public:
  /// Every device starts awake at time 0.
  explicit DeviceAgenda(std::size_t devices) : generation_(devices, 0), asleep_(devices, false) {
    for (std::size_t j = 0; j < devices; ++j) queue_.emplace(0.0, j, 0u);
  }

  /// Device j chooses again at time t (replacing any earlier wake-up it has).
  void wake_at(std::size_t j, double t) {
    asleep_[j] = false;
    queue_.emplace(t, j, ++generation_[j]);
  }
  /// Device j waits for nothing it can time: only wake_sleeping brings it back.
  void sleep(std::size_t j) {
    asleep_[j] = true;
    ++generation_[j];
  }
  /// A sleeping device k chooses again at `now` (something it may wait on has finished).
  void wake_sleeping(std::size_t k, double now) {
    if (asleep_[k]) wake_at(k, now);
  }

  /// The earliest wake-up still current, as (device, time); nothing once every device sleeps or
  /// has nothing left to wake for.
  std::optional<std::pair<std::size_t, double>> next() {
    while (!queue_.empty()) {
      const auto [t, j, generation] = queue_.top();
      queue_.pop();
      if (generation == generation_[j]) return std::pair(j, t);
    }
    return std::nullopt;
  }

 private:
  using Entry = std::tuple<double, std::size_t, unsigned>;  // (time, device, generation)
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> queue_;
  std::vector<unsigned> generation_;
  std::vector<bool> asleep_;
};

}  // namespace tspipe::planning
