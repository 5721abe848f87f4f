// The action dispatcher on its own (no tensors, no threads): dynamic dispatch driven with random
// completion orders must hand out every action once, in orders the validator accepts, keep a
// frozen teacher within its look-ahead, prefer student work, and name what a stuck device waits on.
#include <doctest/doctest.h>

#include <tspipe/runtime/dispatch.hpp>
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/validator.hpp>

#include <random>
#include <set>

using tspipe::runtime::ActionDispatcher;
using tspipe::runtime::Dispatch;
namespace sched = tspipe::schedule;

namespace {

constexpr std::chrono::milliseconds kNoWait{0};

struct DriveOutcome {
  sched::Schedule executed;  ///< per device, the order actions were handed out
  bool deadlocked = false;
  int lookahead_breaches = 0;
};

/// Runs the dispatcher as S concurrent workers would, one action in flight per device, finishing
/// running actions in a random order.
DriveOutcome drive(const sched::Schedule& schedule, const sched::Workload& w, std::uint32_t seed) {
  ActionDispatcher dispatcher(schedule, w, Dispatch::dynamic);
  const std::size_t devices = schedule.devices.size();
  DriveOutcome out;
  out.executed.devices.resize(devices);
  std::vector<std::optional<sched::Action>> running(devices);
  std::vector<bool> exhausted(devices, false);
  std::set<std::string> finished;
  std::mt19937 rng(seed);
  std::size_t remaining = schedule.num_actions();
  while (remaining > 0) {
    bool progressed = false;
    std::vector<std::size_t> order(devices);
    for (std::size_t j = 0; j < devices; ++j) order[j] = j;
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t j : order) {
      if (running[j]) {
        if (rng() % 2 == 0) continue;  // still computing
        dispatcher.finished(*running[j]);
        finished.insert(sched::to_token(*running[j]));
        running[j].reset();
        --remaining;
        progressed = true;
        continue;
      }
      if (exhausted[j]) continue;
      auto next = dispatcher.next(static_cast<int>(j), kNoWait);
      if (!next) continue;  // nothing ready yet
      if (!next.value()) {
        exhausted[j] = true;
        continue;
      }
      const sched::Action a = *next.value();
      if (a.kind == sched::ActionKind::TeacherForward && !w.momentum()) {
        const int step = a.batch - 1 - w.teacher_lookahead;
        if (step >= 0 && !finished.count(sched::to_token(sched::optimizer_step(a.stage, step)))) ++out.lookahead_breaches;
      }
      out.executed.devices[j].push_back(a);
      running[j] = a;
      progressed = true;
    }
    if (!progressed) {
      bool any_running = false;
      for (const auto& r : running) any_running = any_running || r.has_value();
      if (!any_running) {
        out.deadlocked = true;
        return out;
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("dynamic dispatch: random completion orders over the generator sweep all validate") {
  int cases = 0;
  for (auto name : tspipe::planning::generator_names()) {
    for (int S : {1, 2, 3, 4}) {
      for (int M : {1, 2, 3}) {
        for (int V : {1, 2}) {
          for (bool momentum : {false, true}) {
            for (int delta : {0, 1, 2}) {
              if (!momentum && delta > 0) continue;
              for (auto split : {sched::BackwardSplit::full, sched::BackwardSplit::input_weight}) {
                sched::Workload w;
                w.stages = S;
                w.micro_batches = M;
                w.views = V;
                w.batches = 5;
                w.teacher = momentum ? sched::TeacherKind::momentum : sched::TeacherKind::frozen;
                w.staleness = delta;
                w.teacher_lookahead = (S + M) % 3;  // 0, 1 and 2 all occur
                w.split = split;
                w.costs = sched::CostModel::unit(S);
                auto generated = tspipe::planning::generate(name, w);
                if (!generated) continue;  // e.g. tspipe-paper only knows M = S − 1
                const auto& g = generated.value();
                for (std::uint32_t seed = 0; seed < 3; ++seed) {
                  INFO(std::string(name), " S=", S, " M=", M, " V=", V, " momentum=", momentum, " δ=", delta,
                       " split=", sched::to_string(split), " seed=", seed);
                  const DriveOutcome run = drive(g.schedule, g.workload, seed);
                  REQUIRE_FALSE(run.deadlocked);
                  const auto violations = sched::validate(run.executed, g.workload, 3);
                  CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : sched::to_string(violations.front())));
                  CHECK(run.lookahead_breaches == 0);
                  CHECK(run.executed.num_actions() == g.schedule.num_actions());
                  ++cases;
                }
              }
            }
          }
        }
      }
    }
  }
  CHECK(cases > 500);
}

TEST_CASE("dynamic dispatch prefers student work: a ready student forward goes before the teacher's") {
  sched::Workload w = sched::kd_workload(1);
  w.micro_batches = 2;
  w.batches = 1;
  auto generated = tspipe::planning::generate("gpipe", w);
  REQUIRE(generated.ok());
  const auto& list = generated.value().schedule.devices[0];
  REQUIRE(list.front().kind == sched::ActionKind::TeacherForward);  // gpipe: teacher forwards first

  ActionDispatcher dispatcher(generated.value().schedule, generated.value().workload, Dispatch::dynamic);
  std::vector<std::string> order;
  for (;;) {
    auto next = dispatcher.next(0, kNoWait);
    REQUIRE(next.ok());
    if (!next.value()) break;
    order.push_back(sched::to_token(*next.value()));
    dispatcher.finished(*next.value());
  }
  // Both student forwards, then the teacher forwards the loss needs, then the static rest.
  REQUIRE(order.size() == list.size());
  CHECK(order[0] == "FS:0.0.0.0");
  CHECK(order[1] == "FS:0.0.0.1");
  CHECK(order[2] == "FT:0.0.0.0");
  CHECK(order[3] == "FT:0.0.0.1");
  CHECK(order[4] == "LOSS:0");
  CHECK(order.back() == "OPT:0.0");
}

TEST_CASE("in-order dispatch hands out each device's list exactly as generated") {
  const sched::Workload w = sched::ssl_workload(3);
  auto generated = tspipe::planning::generate("tspipe-paper", w);
  REQUIRE(generated.ok());
  ActionDispatcher dispatcher(generated.value().schedule, generated.value().workload, Dispatch::in_order);
  for (int j = 0; j < 3; ++j) {
    std::vector<sched::Action> got;
    for (;;) {
      auto next = dispatcher.next(j, kNoWait);
      REQUIRE(next.ok());
      if (!next.value()) break;
      got.push_back(*next.value());
    }
    CHECK(got == generated.value().schedule.devices[static_cast<std::size_t>(j)]);
  }
}

TEST_CASE("a device with nothing ready names what its first waiting action waits for; stop() ends the wait") {
  sched::Workload w = sched::kd_workload(2);
  w.batches = 1;
  auto generated = tspipe::planning::generate("gpipe", w);
  REQUIRE(generated.ok());
  ActionDispatcher dispatcher(generated.value().schedule, generated.value().workload, Dispatch::dynamic);
  // Device 1 can do nothing before device 0 forwards: its first student action is FS:1.0.0.0.
  auto waiting = dispatcher.next(1, std::chrono::milliseconds(20));
  REQUIRE_FALSE(waiting.ok());
  CHECK(waiting.message() ==
        "device 1 found no ready action for 20 ms; its first waiting action FS:1.0.0.0 waits for FS:0.0.0.0");
  dispatcher.stop();
  auto after_stop = dispatcher.next(1, std::chrono::milliseconds(20));
  REQUIRE(after_stop.ok());
  CHECK_FALSE(after_stop.value().has_value());
}
