// Schedule benchmark: for S ∈ {4, 8, 16}, SSL and KD, teacher/student cost ratio r ∈ {1, 3},
// every generator's steady-state time per batch, utilisation and speed-up against `sequential`;
// then the simulator's own speed and the generate+validate time of a 16-stage × 1000-batch
// schedule. Prints; asserts nothing (targets are read off the output).
#include <tspipe/schedule/generators.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/evaluate.hpp>

#include <chrono>
#include <cstdio>
#include <string>

using namespace tspipe;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
}  // namespace

int main(int argc, char** argv) {
  const int big_batches = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::printf("%-4s %-4s %-3s %-13s %-12s %4s %11s %11s %9s\n", "S", "wl", "r", "schedule", "split", "M",
              "time/batch", "utilisation", "vs seq");
  for (int S : {4, 8, 16})
    for (const char* kind : {"ssl", "kd"})
      for (double ratio : {1.0, 3.0}) {
        schedule::Workload w = std::string(kind) == "ssl" ? schedule::ssl_workload(S) : schedule::kd_workload(S);
        w.batches = 12;
        w.costs = schedule::CostModel::teacher_ratio(S, ratio);
        for (auto name : schedule::generator_names()) {
          for (auto split : {schedule::BackwardSplit::full, schedule::BackwardSplit::halves}) {
            if (name == "tspipe-paper" && split == schedule::BackwardSplit::full) continue;  // always halves
            if (name == "sequential" && split == schedule::BackwardSplit::halves) continue;
            w.split = split;
            auto e = sim::evaluate(name, w);
            if (!e) {
              std::printf("%-4d %-4s %-3g %-13s n/a: %s\n", S, kind, ratio, std::string(name).c_str(), e.message().c_str());
              continue;
            }
            std::printf("%-4d %-4s %-3g %-13s %-12s %4d %11.4g %11.4f %8.3fx\n", S, kind, ratio, std::string(name).c_str(),
                        std::string(schedule::to_string(e.value().generated.workload.split)).c_str(),
                        e.value().generated.workload.micro_batches, e.value().result.time_per_batch,
                        e.value().result.utilisation, e.value().speedup_vs_sequential);
          }
        }
      }

  // The simulator's own speed, and generate + validate on a 16-stage × N-batch workload.
  std::printf("\nsimulator speed, 16 stages x %d batches (SSL, M = 15):\n", big_batches);
  schedule::Workload big = schedule::ssl_workload(16);
  big.batches = big_batches;
  for (auto name : {"gpipe", "tspipe-paper", "tspipe"}) {
    auto start = Clock::now();
    auto g = schedule::generate(name, big);
    const double generate_s = seconds_since(start);
    if (!g) {
      std::printf("  %s: %s\n", name, g.message().c_str());
      return 1;
    }
    start = Clock::now();
    const auto violations = schedule::validate(g.value().schedule, g.value().workload);
    const double validate_s = seconds_since(start);
    const double actions = static_cast<double>(g.value().schedule.num_actions());
    // Simulate several times and keep the fastest run: the machine is shared and noisy.
    double simulate_s = 1e300;
    for (int rep = 0; rep < 3; ++rep) {
      start = Clock::now();
      auto r = sim::simulate(g.value().schedule, g.value().workload);
      simulate_s = std::min(simulate_s, seconds_since(start));
      if (!r) {
        std::printf("  %s: %s\n", name, r.message().c_str());
        return 1;
      }
    }
    std::printf("  %-13s %9.0f actions  generate %.3f s  validate %.3f s (%zu violations)  generate+validate %.3f s"
                "  simulate %.3f s = %.2f M actions/s\n",
                name, actions, generate_s, validate_s, violations.size(), generate_s + validate_s, simulate_s,
                actions / simulate_s / 1e6);
  }
  return 0;
}
