#pragma once
// Predicted (simulator, profiled costs) against measured time per batch over every segment run,
// kept as running sums: each segment adds its own actions, so the cost of a segment does not grow
// with the batches already trained.
#include <tspipe/pipeline/trace.hpp>
#include <tspipe/schedule/device_lists.hpp>
#include <tspipe/sim/simulator.hpp>

#include <algorithm>
#include <cstddef>
#include <vector>

namespace tspipe {

/// Predicted against measured time per batch over the segments run so far, both in seconds.
struct TimingReport {
  double predicted_time_per_batch = 0.0;
  double measured_time_per_batch = 0.0;
  double mean_action_overhead = 0.0;  ///< measured busy time not explained by profiled costs, per action
};

/// Accumulates the timing report segment by segment.
class TimingAccumulator {
 public:
  /// Opens a segment of a pipeline of `stages` devices (workers).
  void begin_segment(int stages) {
    busy_.assign(static_cast<std::size_t>(stages), 0.0);
    actions_.assign(static_cast<std::size_t>(stages), 0);
  }
  /// Adds an action of device `stage` to the open segment (called by that device's worker only).
  void record(int stage, const MeasuredAction& measured) {
    busy_[static_cast<std::size_t>(stage)] += measured.end - measured.start;
    ++actions_[static_cast<std::size_t>(stage)];
  }
  /// Closes the segment: `batches` batches ran `generated` in `elapsed` seconds.
  void end_segment(const schedule::Generated& generated, double elapsed, long batches) {
    measured_seconds_ += elapsed;
    measured_batches_ += batches;
    auto predicted = sim::simulate(generated.schedule, generated.workload);
    if (predicted) predicted_seconds_ += predicted.value().makespan;
    // What the actions cost by the profile alone, without the overhead being estimated here.
    schedule::Workload compute_only = generated.workload;
    compute_only.costs.per_action_overhead = 0.0;
    modelled_seconds_ += sim::serial_time_per_batch(compute_only) * static_cast<double>(batches);
    for (std::size_t j = 0; j < busy_.size(); ++j) {
      busy_seconds_ += busy_[j];
      actions_run_ += actions_[j];
    }
    report_.predicted_time_per_batch = predicted_seconds_ / static_cast<double>(measured_batches_);
    report_.measured_time_per_batch = measured_seconds_ / static_cast<double>(measured_batches_);
    if (actions_run_) report_.mean_action_overhead = std::max(0.0, busy_seconds_ - modelled_seconds_) / static_cast<double>(actions_run_);
  }

  const TimingReport& report() const { return report_; }

 private:
  std::vector<double> busy_;          ///< the open segment, per stage
  std::vector<std::size_t> actions_;  ///< the open segment, per stage
  double measured_seconds_ = 0.0, predicted_seconds_ = 0.0, busy_seconds_ = 0.0, modelled_seconds_ = 0.0;
  long measured_batches_ = 0;
  std::size_t actions_run_ = 0;
  TimingReport report_;
};

}  // namespace tspipe
