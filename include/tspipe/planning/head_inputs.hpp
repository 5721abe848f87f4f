#pragma once
// When the inputs of the action at the head of a device's queue are usable, for the list
// schedulers (the tspipe search, teacher fill), which ask again on every wake-up of the device.
//
// The head's producers are listed once, when it becomes the head, and checked off in order as
// they finish, so every dependency is looked at once however often the head is asked (asking
// again from scratch costs an action with many producers, e.g. a LOSS over M slices, one pass per
// producer that finishes). A head that is still waiting is an empty optional, never a time data
// could reach.
#include <tspipe/schedule/dependencies.hpp>
#include <tspipe/sim/simulator.hpp>

#include <cstddef>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

namespace tspipe::planning {

class HeadInputs {
 public:
  /// When the inputs of `a`, at `position` of its queue, are all usable: the latest producer
  /// finish plus its transfer; nothing while a producer has not finished (finish[i] < 0).
  std::optional<double> ready(std::size_t position, const schedule::Action& a, const schedule::Workload& w,
                              const schedule::ActionIndex& index, const std::vector<double>& finish) {
    if (position != position_) {
      position_ = position;
      producers_.clear();
      finished_ = 0;
      ready_ = 0.0;
      schedule::for_each_dependency(w, a, [&](const schedule::Action& producer, schedule::DependencyKind) {
        producers_.emplace_back(index.index_unchecked(producer), sim::detail::arrival(w, producer, a, 0.0));
        return true;
      });
    }
    for (; finished_ < producers_.size(); ++finished_) {
      const auto [p, transfer] = producers_[finished_];
      if (finish[p] < 0.0) return std::nullopt;
      ready_ = std::max(ready_, finish[p] + transfer);
    }
    return ready_;
  }

 private:
  std::size_t position_ = std::numeric_limits<std::size_t>::max();
  std::vector<std::pair<std::size_t, double>> producers_;  ///< (dense index, transfer to the head)
  std::size_t finished_ = 0;                               ///< producers_[0, finished_) have finished
  double ready_ = 0.0;                                     ///< the latest arrival among them
};

}  // namespace tspipe::planning
