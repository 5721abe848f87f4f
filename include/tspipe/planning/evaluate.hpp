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

/// `w` with one chunk per device: the model's stages each device holds run as one stage (a cost
/// table of S·v rows is summed per device; transfers leave from the device's last chunk's row,
/// the loss and teacher outputs stay the last stage's).
inline Workload one_chunk_per_device(Workload w) {
  if (w.chunks == 1) return w;
  schedule::CostModel merged;
  merged.per_action_overhead = w.costs.per_action_overhead;
  merged.stages.assign(static_cast<std::size_t>(w.stages), schedule::StageCost{});
  if (w.costs.stages.size() == static_cast<std::size_t>(w.stages)) {
    merged.stages = w.costs.stages;
  } else {
    std::vector<bool> first(static_cast<std::size_t>(w.stages), true);
    for (int l = 0; l < w.logical_stages(); ++l) {
      const schedule::StageCost& c = w.stage_costs(l);
      schedule::StageCost& d = merged.stages[static_cast<std::size_t>(w.device_of_stage(l))];
      if (first[static_cast<std::size_t>(w.device_of_stage(l))]) d = schedule::StageCost{0.0, 0.0, 0.0, c.backward_input_share, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0};
      const double backward = d.student_backward + c.student_backward;
      d.backward_input_share = backward > 0.0 ? (d.student_backward * d.backward_input_share + c.student_backward * c.backward_input_share) / backward : c.backward_input_share;
      d.teacher_forward += c.teacher_forward;
      d.student_forward += c.student_forward;
      d.student_backward = backward;
      d.optimizer += c.optimizer;
      d.ema += c.ema;
      d.activation_memory += c.activation_memory;
      d.transfer = c.transfer;
      first[static_cast<std::size_t>(w.device_of_stage(l))] = false;
    }
    merged.stages.back().loss = w.stage_costs(w.last_stage()).loss;
    merged.stages.back().teacher_output_memory = w.stage_costs(w.last_stage()).teacher_output_memory;
  }
  w.costs = std::move(merged);
  w.chunks = 1;
  w.chunk_placement = schedule::ChunkPlacement::interleaved;
  return w;
}

/// Simulates the `sequential` schedule of `w` (M = 1, one chunk per device) and returns its
/// steady-state time per batch.
inline Result<double> sequential_time_per_batch(const Workload& w) {
  auto seq = schedule::generate_sequential(one_chunk_per_device(w));
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
