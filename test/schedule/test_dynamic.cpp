// The simulated dynamic dispatch (sim::simulate_dynamic, schedule::DynamicOrder): a hand-computed
// timeline; over a generator sweep with noisy costs and transfers, every timeline is a valid
// schedule that honours each dependency's arrival and never overlaps two actions on a device;
// and what it gains over the static order when costs stray from the plan, or costs nothing when
// they do not.
#include "run_generator.hpp"

#include <doctest/doctest.h>
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/dynamic.hpp>

#include <cstdint>
#include <map>

using namespace tspipe;
using namespace tspipe::schedule;
using namespace tspipe::planning;
using tspipe::test::generated;

namespace {

/// A per-action cost factor in [0.5, 1.5), the same on every platform (splitmix64 of the index).
double noise(std::size_t i, std::uint64_t seed) {
  std::uint64_t z = i + seed * 0x9e3779b97f4a7c15ULL + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return 0.5 + static_cast<double>(z >> 11) * 0x1.0p-53;
}

}  // namespace

TEST_CASE("by hand: 2-stage KD gpipe, M = 1: each device starts its student forward before the teacher's") {
  Workload w = kd_workload(2);
  w.micro_batches = 1;
  w.batches = 1;
  const auto g = generated("gpipe", w);  // d0: FT FS BS OPT, d1: FT FS LOSS BS OPT
  const auto r = sim::simulate_dynamic(g.schedule, g.workload);
  REQUIRE_MESSAGE(r.ok(), r.message());
  // d0: FS [0,1) FT [1,2)                  BS [5,7) OPT 7
  // d1:          FS [1,2) FT [2,3) LOSS 3 BS [3,5) OPT 5
  const auto& d0 = r.value().timeline[0];
  const auto& d1 = r.value().timeline[1];
  REQUIRE(d0.size() == 4);
  REQUIRE(d1.size() == 5);
  CHECK(d0[0].action == student_forward(0, 0, 0, 0));
  CHECK(d0[0].start == 0.0);
  CHECK(d0[1].action == teacher_forward(0, 0, 0, 0));
  CHECK(d0[1].start == 1.0);
  CHECK(d1[0].action == student_forward(1, 0, 0, 0));
  CHECK(d1[0].start == 1.0);
  CHECK(d1[1].action == teacher_forward(1, 0, 0, 0));
  CHECK(d1[1].start == 2.0);
  CHECK(d1[2].action == loss(1, 0));
  CHECK(d1[3].start == 3.0);
  CHECK(d0[2].action == student_backward(0, 0, 0, 0));
  CHECK(d0[2].start == 5.0);
  CHECK(r.value().makespan == 7.0);
}

TEST_CASE("sweep: dynamic timelines validate, honour every arrival and never overlap on a device") {
  int cases = 0;
  for (auto name : generator_names()) {
    for (int S : {1, 2, 3, 4}) {
      for (int M : {1, 2, 3}) {
        for (int V : {1, 2}) {
          for (bool momentum : {false, true}) {
            for (int delta : {0, 1}) {
              if (!momentum && delta > 0) continue;
              Workload w;
              w.stages = S;
              w.micro_batches = M;
              w.views = V;
              w.batches = 6;
              w.teacher = momentum ? TeacherKind::momentum : TeacherKind::frozen;
              w.staleness = delta;
              w.split = (S + M) % 2 == 0 ? BackwardSplit::input_weight : BackwardSplit::full;
              w.costs = CostModel::teacher_ratio(S, 2.0);
              for (auto& c : w.costs.stages) c.transfer = 0.3;
              auto g = generate(name, w);
              if (!g) continue;
              const Workload& gw = g.value().workload;
              const ActionIndex index(gw);
              const sim::ActionCost cost = [&](const Action& a) { return gw.action_cost(a) * noise(index.index_unchecked(a), 7); };
              INFO(std::string(name), " S=", S, " M=", M, " V=", V, " momentum=", momentum, " δ=", delta);
              const auto r = sim::simulate_dynamic(g.value().schedule, gw, cost);
              REQUIRE_MESSAGE(r.ok(), r.message());
              Schedule ran;
              std::map<std::string, sim::TimedAction> when;
              for (const auto& device : r.value().timeline) {
                ran.devices.emplace_back();
                double free_at = 0.0;
                for (const auto& t : device) {
                  ran.devices.back().push_back(t.action);
                  CHECK(t.start >= free_at);
                  CHECK(t.end == doctest::Approx(t.start + cost(t.action)));
                  free_at = t.end;
                  when[to_token(t.action)] = t;
                }
              }
              const auto violations = validate(ran, gw, 3);
              CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : to_string(violations.front())));
              for (const auto& [token, t] : when)
                for_each_dependency(gw, t.action, [&](const Action& producer, DependencyKind) {
                  const auto& p = when.at(to_token(producer));
                  const double arrives = p.end + (producer.stage == t.action.stage ? 0.0 : gw.transfer_cost(std::min(producer.stage, t.action.stage)));
                  CHECK(t.start >= arrives - 1e-12);
                  return true;
                });
              ++cases;
            }
          }
        }
      }
    }
  }
  CHECK(cases > 100);
}

TEST_CASE("with the costs it was planned on, dynamic dispatch of tspipe loses nothing") {
  for (const bool ssl : {true, false})
    for (double ratio : {1.0, 3.0})
      for (int S : {4, 8}) {
        if (ssl && ratio != 1.0) continue;
        INFO("ssl=", ssl, " r=", ratio, " S=", S);
        Workload w = ssl ? ssl_workload(S) : kd_workload(S);
        w.batches = 12;
        w.costs = CostModel::teacher_ratio(S, ratio);
        w.choose_micro_batches = w.choose_split = true;
        const auto g = generated("tspipe", w);
        const auto in_order = sim::simulate(g.schedule, g.workload);
        const auto dynamic = sim::simulate_dynamic(g.schedule, g.workload);
        REQUIRE(in_order.ok());
        REQUIRE(dynamic.ok());
        CHECK(dynamic.value().time_per_batch == doctest::Approx(in_order.value().time_per_batch).epsilon(1e-9));
      }
}

TEST_CASE("when real costs stray from the plan, dynamic dispatch beats the static order") {
  // KD, teacher planned 3× the student per stage, but really half that: the static order left
  // room for teacher forwards that now finish early; dynamic starts the next work at once.
  Workload plan = kd_workload(4);
  plan.batches = 12;
  plan.costs = CostModel::teacher_ratio(4, 3.0);
  plan.choose_micro_batches = plan.choose_split = true;
  const auto g = generated("tspipe", plan);
  Workload real = g.workload;
  for (auto& c : real.costs.stages) c.teacher_forward *= 0.5;
  const double in_order = sim::simulate(g.schedule, real).value().time_per_batch;
  const double dynamic = sim::simulate_dynamic(g.schedule, real).value().time_per_batch;
  CHECK(dynamic < 0.95 * in_order);

  // Every action its own cost factor in [0.5, 1.5): over several draws dynamic is faster on the
  // whole (a single draw may go either way: dispatch is greedy and never preempts).
  const ActionIndex index(g.workload);
  double ratio_sum = 0.0;
  constexpr int kDraws = 8;
  for (std::uint64_t seed = 1; seed <= kDraws; ++seed) {
    const sim::ActionCost noisy = [&](const Action& a) { return g.workload.action_cost(a) * noise(index.index_unchecked(a), seed); };
    const double a = sim::simulate(g.schedule, g.workload, noisy).value().time_per_batch;
    const double b = sim::simulate_dynamic(g.schedule, g.workload, noisy).value().time_per_batch;
    ratio_sum += b / a;
  }
  CHECK(ratio_sum / kDraws < 0.99);
}

TEST_CASE("simulate_dynamic refuses a schedule that does not fit the workload") {
  const auto g = generated("gpipe", kd_workload(2));
  Workload other = g.workload;
  other.stages = 3;
  other.costs = CostModel::unit(3);
  CHECK_FALSE(sim::simulate_dynamic(g.schedule, other).ok());
  Schedule missing = g.schedule;
  missing.devices[0].pop_back();
  const auto r = sim::simulate_dynamic(missing, g.workload);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find("validate first") != std::string::npos);
}
