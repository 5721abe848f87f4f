#pragma once
// The measured trace of a pipeline: each executed action with its start and end, kept for the
// most recent segments only, so that a run of any length holds a bounded trace.
#include <tspipe/schedule/action.hpp>
#include <tspipe/sim/simulator.hpp>

#include <cstddef>
#include <deque>
#include <vector>

namespace tspipe {

/// One measured action: which worker, what, when (seconds since the pipeline was built).
struct MeasuredAction {
  schedule::Action action;  ///< batch is the global batch number
  double start = 0.0;
  double end = 0.0;
};

/// Per device (worker), the measured actions in the order they ran, oldest first.
using MeasuredTrace = std::vector<std::deque<MeasuredAction>>;

/// The trace as simulator timelines (seconds), ready for sim::chrome_trace / svg_timeline.
inline std::vector<std::vector<sim::TimedAction>> to_timeline(const MeasuredTrace& trace) {
  std::vector<std::vector<sim::TimedAction>> out(trace.size());
  for (std::size_t j = 0; j < trace.size(); ++j)
    for (const auto& m : trace[j]) out[j].push_back({m.action, m.start, m.end});
  return out;
}

/// The actions of the last `segments` segments (none when 0). Each device's worker records its own
/// actions; segments begin on the thread that runs them, between segments.
class TraceWindow {
 public:
  TraceWindow(int stages, int segments) : trace_(static_cast<std::size_t>(stages)), segments_(segments) {}

  /// Opens a segment, dropping the oldest one when the window is full.
  void begin_segment() {
    if (segments_ <= 0) return;
    sizes_.emplace_back(trace_.size(), 0);
    while (sizes_.size() > static_cast<std::size_t>(segments_)) {
      for (std::size_t j = 0; j < trace_.size(); ++j) {
        auto& stage = trace_[j];
        stage.erase(stage.begin(), stage.begin() + static_cast<std::ptrdiff_t>(sizes_.front()[j]));
      }
      sizes_.pop_front();
    }
  }
  /// Adds an action of device `stage` to the open segment (called by that device's worker only).
  void record(int stage, const MeasuredAction& measured) {
    if (sizes_.empty()) return;
    const auto j = static_cast<std::size_t>(stage);
    trace_[j].push_back(measured);
    ++sizes_.back()[j];
  }
  const MeasuredTrace& actions() const { return trace_; }

 private:
  MeasuredTrace trace_;
  std::deque<std::vector<std::size_t>> sizes_;  ///< per segment in the window: actions per stage
  int segments_;
};

}  // namespace tspipe
