#pragma once
// How the schedule suites obtain a schedule: a named generator run on a workload (and, for the
// makespan checks, simulated), the test case failing with the generator's or simulator's message.
#include <doctest/doctest.h>
#include <tspipe/planning/generate.hpp>
#include <tspipe/sim/simulator.hpp>

#include <utility>

namespace tspipe::test {

inline schedule::Generated generated(const char* name, const schedule::Workload& w) {
  auto g = planning::generate(name, w);
  REQUIRE_MESSAGE(g.ok(), g.message());
  return std::move(g).value();
}

inline sim::SimulationResult simulated(const char* name, const schedule::Workload& w) {
  const schedule::Generated g = generated(name, w);
  auto r = sim::simulate(g.schedule, g.workload);
  REQUIRE_MESSAGE(r.ok(), r.message());
  return std::move(r).value();
}

}  // namespace tspipe::test
