#pragma once
// Generate → validate → simulate, and the speed-up against `sequential` on the same workload:
// what the CLI, the benchmarks and the runtime's predicted-vs-measured report all need.
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/dynamic.hpp>
#include <tspipe/sim/simulator.hpp>

#include <string>
#include <string_view>

namespace tspipe::planning {

using sim::SimulationResult;

struct Evaluation {
  schedule::Generated generated;
  SimulationResult result;
  double sequential_time_per_batch = 0.0;
  double speedup_vs_sequential = 0.0;
};

/// Simulates the `sequential` schedule of `w` (M = 1) and returns its steady-state time per batch.
inline Result<double> sequential_time_per_batch(const Workload& w) {
  auto seq = schedule::generate_sequential(w);
  if (!seq) return Result<double>::failure(seq.message());
  auto r = sim::simulate(seq.value().schedule, seq.value().workload);
  if (!r) return Result<double>::failure(r.message());
  return r.value().time_per_batch;
}

/// Validates a schedule `generator` made for `w` (any violation is an error listing the first
/// ones), simulates it (devices running their lists in order, or dynamically) and compares with
/// `sequential` on `w` (in order).
inline Result<Evaluation> evaluate_generated(std::string_view generator, schedule::Generated generated, const Workload& w,
                                             schedule::Dispatch dispatch = schedule::Dispatch::in_order) {
  const auto violations = schedule::validate(generated.schedule, generated.workload, 5);
  if (!violations.empty()) {
    std::string report = std::string(generator) + ": generated an invalid schedule:";
    for (const auto& v : violations) report += "\n  " + schedule::to_string(v);
    return Result<Evaluation>::failure(report);
  }
  auto result = dispatch == schedule::Dispatch::dynamic ? sim::simulate_dynamic(generated.schedule, generated.workload)
                                                        : sim::simulate(generated.schedule, generated.workload);
  if (!result) return Result<Evaluation>::failure(result.message());
  auto sequential = sequential_time_per_batch(w);
  if (!sequential) return Result<Evaluation>::failure(sequential.message());
  Evaluation e{std::move(generated), std::move(result).value(), sequential.value(), 0.0};
  e.speedup_vs_sequential = e.result.time_per_batch > 0.0 ? e.sequential_time_per_batch / e.result.time_per_batch : 0.0;
  return e;
}

/// Runs the named generator on `w`, then evaluate_generated.
inline Result<Evaluation> evaluate(std::string_view generator, const Workload& w,
                                   schedule::Dispatch dispatch = schedule::Dispatch::in_order) {
  auto generated = generate(generator, w);
  if (!generated) return Result<Evaluation>::failure(generated.message());
  return evaluate_generated(generator, std::move(generated).value(), w, dispatch);
}

}  // namespace tspipe::planning
