#pragma once
// What a pipeline measures about itself: the trace of executed actions and the predicted
// (simulator, profiled costs) against measured time per batch.
#include <tspipe/schedule/device_lists.hpp>
#include <tspipe/sim/simulator.hpp>

#include <algorithm>
#include <vector>

namespace tspipe {

/// One measured action: which worker, what, when (seconds since the pipeline was built).
struct MeasuredAction {
  schedule::Action action;  ///< batch is the global batch number
  double start = 0.0;
  double end = 0.0;
};

/// Per stage, the measured actions.
using MeasuredTrace = std::vector<std::vector<MeasuredAction>>;

/// The trace as simulator timelines (seconds), ready for sim::chrome_trace / svg_timeline.
inline std::vector<std::vector<sim::TimedAction>> to_timeline(const MeasuredTrace& trace) {
  std::vector<std::vector<sim::TimedAction>> out(trace.size());
  for (std::size_t j = 0; j < trace.size(); ++j)
    for (const auto& m : trace[j]) out[j].push_back({m.action, m.start, m.end});
  return out;
}

/// Predicted against measured time per batch over the segments run so far, both in seconds.
struct TimingReport {
  double predicted_time_per_batch = 0.0;
  double measured_time_per_batch = 0.0;
  double mean_action_overhead = 0.0;  ///< measured busy time not explained by profiled costs, per action
};

/// Accumulates the timing report segment by segment.
class TimingAccumulator {
 public:
  /// Adds a segment of `batches` batches that ran `generated` in `elapsed` seconds; `trace` holds
  /// every action measured so far.
  void add_segment(const schedule::Generated& generated, double elapsed, long batches, const MeasuredTrace& trace) {
    measured_seconds_ += elapsed;
    measured_batches_ += batches;
    auto predicted = sim::simulate(generated.schedule, generated.workload);
    if (predicted) predicted_seconds_ += predicted.value().makespan;
    report_.predicted_time_per_batch = predicted_seconds_ / static_cast<double>(measured_batches_);
    report_.measured_time_per_batch = measured_seconds_ / static_cast<double>(measured_batches_);
    double busy = 0.0;
    std::size_t actions = 0;
    for (const auto& device : trace)
      for (const auto& m : device) {
        busy += m.end - m.start;
        ++actions;
      }
    const double modelled = sim::serial_time_per_batch(generated.workload) * static_cast<double>(measured_batches_);
    if (actions) report_.mean_action_overhead = std::max(0.0, busy - modelled) / static_cast<double>(actions);
  }

  const TimingReport& report() const { return report_; }

 private:
  double measured_seconds_ = 0.0, predicted_seconds_ = 0.0;
  long measured_batches_ = 0;
  TimingReport report_;
};

}  // namespace tspipe
