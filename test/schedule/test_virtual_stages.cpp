// Virtual stages (v chunks per device): the IR's placement and tokens, hand-timed v = 2 schedules
// in both simulators, the validator's rejections, and the generators' targets at unit costs.
#include "run_generator.hpp"

#include <doctest/doctest.h>
#include <tspipe/planning/evaluate.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/dynamic.hpp>

#include <algorithm>
#include <random>
#include <string>

using namespace tspipe;
using namespace tspipe::schedule;

namespace {

/// S = 2 devices, v = 2 chunks, student only, one batch, unit costs, a loss per micro-batch.
Workload two_devices_two_chunks(ChunkPlacement placement, int micro_batches) {
  Workload w = kd_workload(2);
  w.teacher = TeacherKind::none;
  w.chunks = 2;
  w.chunk_placement = placement;
  w.micro_batches = micro_batches;
  w.batches = 1;
  w.per_micro_batch_loss = true;
  return w;
}

Schedule parsed(const std::string& text, int chunks) {
  auto s = parse_text(text, chunks);
  REQUIRE_MESSAGE(s.ok(), s.message());
  return std::move(s).value();
}

bool has_rule(const std::vector<Violation>& violations, Rule rule, const std::string& text) {
  return std::any_of(violations.begin(), violations.end(), [&](const Violation& v) {
    return v.rule == rule && v.message.find(text) != std::string::npos;
  });
}

// Interleaved, S = 2, M = 2: stages 0 and 2 on d0, 1 and 3 on d1. A chunk's FS costs
// 1 · (1/2) / 2 = 0.25, its BS 0.5.
const std::string kInterleaved =
    "d0: FS:0.0.0.0 FS:0.0.0.1 FS:2.0.0.0 FS:2.0.0.1 BS:2.0.0.0 BS:2.0.0.1 BS:0.0.0.0 BS:0.0.0.1 OPT:0.0 OPT:2.0\n"
    "d1: FS:1.0.0.0 FS:1.0.0.1 FS:3.0.0.0 LOSS:0 FS:3.0.0.1 LOSS:0.1 BS:3.0.0.0 BS:3.0.0.1 BS:1.0.0.0 BS:1.0.0.1 "
    "OPT:1.0 OPT:3.0\n";

// V shape, S = 2, M = 1: stages 0 and 3 on d0, 1 and 2 on d1. FS costs 0.5, BS 1.
const std::string kVShape =
    "d0: FS:0.0.0.0 FS:3.0.0.0 LOSS:0 BS:3.0.0.0 BS:0.0.0.0 OPT:0.0 OPT:3.0\n"
    "d1: FS:1.0.0.0 FS:2.0.0.0 BS:2.0.0.0 BS:1.0.0.0 OPT:1.0 OPT:2.0\n";

}  // namespace

TEST_CASE("virtual stages: logical stages map to devices by placement") {
  Workload w = kd_workload(4);
  w.chunks = 2;
  CHECK(w.logical_stages() == 8);
  CHECK(w.last_stage() == 7);
  for (int l : {0, 1, 2, 3}) CHECK(w.device_of_stage(l) == l);
  for (int l : {4, 5, 6, 7}) CHECK(w.device_of_stage(l) == l - 4);
  CHECK(w.loss_device() == 3);
  w.chunk_placement = ChunkPlacement::v_shape;
  for (int l : {4, 5, 6, 7}) CHECK(w.device_of_stage(l) == 7 - l);
  CHECK(w.loss_device() == 0);
  CHECK(device_of(w, loss(7, 0)) == 0);
  // A chunk carries 1/v of its device's row; transfers are not split.
  w.costs.stages[2].transfer = 0.6;
  CHECK(w.action_cost(student_forward(5, 0, 0, 0)) == doctest::Approx(1.0 / 2 / 3));
  CHECK(w.transfer_cost(5) == doctest::Approx(0.6 / 3));
  CHECK(w.check().ok());
  w.chunks = 3;
  CHECK(w.check().message().find("v-shape placement holds 2 chunks") != std::string::npos);
  w.chunk_placement = ChunkPlacement::interleaved;
  CHECK(w.check().ok());
  w.chunks = 0;
  CHECK(w.check().message().find("chunks = 0") != std::string::npos);
  // A cost table of S·v rows gives each logical stage its own costs.
  w.chunks = 2;
  w.costs = CostModel::unit(8);
  w.costs.stages[5].student_forward = 6.0;
  CHECK(w.check().ok());
  CHECK(w.action_cost(student_forward(5, 0, 0, 0)) == doctest::Approx(6.0 / 3));
  w.costs = CostModel::unit(6);
  CHECK(w.check().message().find("cost table has 6 stages") != std::string::npos);
}

TEST_CASE("virtual stages: tokens, text and CSV round-trip with logical stages") {
  Workload w = kd_workload(4);
  w.chunks = 2;
  w.chunk_placement = ChunkPlacement::v_shape;
  w.batches = 2;
  w.per_micro_batch_loss = true;
  const Generated g = test::generated("zbv", w);
  CHECK(g.workload.chunks == 2);
  CHECK(validate(g.schedule, g.workload).empty());
  const std::string text = to_text(g.schedule);
  CHECK(text.find("FS:7.1.0.2") != std::string::npos);  // stage 7 runs on d0
  const Schedule from_text = parsed(text, 2);
  CHECK(from_text == g.schedule);
  for (std::size_t j = 0; j < g.schedule.devices.size(); ++j)
    for (std::size_t p = 0; p < g.schedule.devices[j].size(); ++p) {
      const Action& a = g.schedule.devices[j][p];
      auto again = parse_token(to_token(a), g.workload.last_stage());
      REQUIRE(again.ok());
      CHECK(again.value() == a);
    }
  auto from_csv = parse_csv(to_csv(g.schedule), 2);
  REQUIRE_MESSAGE(from_csv.ok(), from_csv.message());
  CHECK(from_csv.value() == g.schedule);
  CHECK(to_csv(from_csv.value()) == to_csv(g.schedule));
  // Read without the chunk count, LOSS gets the last device's stage: not the same schedule.
  CHECK(!(parsed(text, 1) == g.schedule));
}

TEST_CASE("virtual stages by hand: interleaved S = 2, v = 2, M = 2") {
  // d0: FS0.0 [0,.25) FS0.1 [.25,.5) FS2.0 [.5,.75) FS2.1 [.75,1) BS2.0 [1.75,2.25) BS2.1 [2.25,2.75)
  //     BS0.0 [2.75,3.25) BS0.1 [3.25,3.75) OPT OPT
  // d1: FS1.0 [.25,.5) FS1.1 [.5,.75) FS3.0 [.75,1) LOSS FS3.1 [1,1.25) LOSS BS3.0 [1.25,1.75)
  //     BS3.1 [1.75,2.25) BS1.0 [2.25,2.75) BS1.1 [2.75,3.25) OPT OPT
  const Workload w = two_devices_two_chunks(ChunkPlacement::interleaved, 2);
  const Schedule s = parsed(kInterleaved, 2);
  const auto violations = validate(s, w);
  CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : to_string(violations.front())));
  auto r = sim::simulate(s, w);
  REQUIRE_MESSAGE(r.ok(), r.message());
  CHECK(r.value().makespan == doctest::Approx(3.75));
  CHECK(r.value().timeline[0][4].start == doctest::Approx(1.75));
  CHECK(r.value().timeline[1][8].start == doctest::Approx(2.25));
  CHECK(r.value().utilisation == doctest::Approx(3.0 / 3.75));
  // Each device holds both micro-batches of both its chunks at most: 4 slices of 1/2 · 1/2.
  CHECK(r.value().peak_activation_memory[0] == doctest::Approx(1.0));
  CHECK(r.value().peak_activation_memory[1] == doctest::Approx(1.0));
  auto dynamic = sim::simulate_dynamic(s, w);
  REQUIRE_MESSAGE(dynamic.ok(), dynamic.message());
  CHECK(dynamic.value().makespan == doctest::Approx(3.75));
}

TEST_CASE("virtual stages by hand: a V's turn on one device costs no transfer") {
  // transfer 0.4 on every boundary between devices; 1 | 2 is inside d1.
  // d0: FS0 [0,.5)            FS3 [2.3,2.8) LOSS BS3 [2.8,3.8)                 BS0 [6.6,7.6) OPT OPT
  // d1:   FS1 [.9,1.4) FS2 [1.4,1.9)                 BS2 [4.2,5.2) BS1 [5.2,6.2)               OPT OPT
  Workload w = two_devices_two_chunks(ChunkPlacement::v_shape, 1);
  for (auto& c : w.costs.stages) c.transfer = 0.4;
  const Schedule s = parsed(kVShape, 2);
  CHECK(validate(s, w).empty());
  auto r = sim::simulate(s, w);
  REQUIRE_MESSAGE(r.ok(), r.message());
  CHECK(r.value().makespan == doctest::Approx(7.6));
  CHECK(r.value().timeline[1][1].start == doctest::Approx(1.4));
  CHECK(r.value().timeline[0][1].start == doctest::Approx(2.3));
  auto dynamic = sim::simulate_dynamic(s, w);
  REQUIRE_MESSAGE(dynamic.ok(), dynamic.message());
  CHECK(dynamic.value().makespan == doctest::Approx(7.6));
}

TEST_CASE("virtual stages: the validator names a misplaced chunk and chunks out of order") {
  const Workload v_shape = two_devices_two_chunks(ChunkPlacement::v_shape, 1);
  const Workload interleaved = two_devices_two_chunks(ChunkPlacement::interleaved, 2);
  // The violations of `text` with `from` replaced by `to`.
  const auto violations_after = [](std::string text, const std::string& from, const std::string& to, const Workload& w) {
    text.replace(text.find(from), from.size(), to);
    return validate(parsed(text, 2), w);
  };
  // FS:2 moved from d1 to d0.
  const auto misplaced = violations_after(kVShape, "FS:3.0.0.0", "FS:2.0.0.0 FS:3.0.0.0", v_shape);
  CHECK(has_rule(misplaced, Rule::placement, "FS:2.0.0.0 belongs on d1"));
  CHECK(has_rule(misplaced, Rule::duplicate, "FS:2.0.0.0 already appears"));
  // Two chunks of one device in the wrong order.
  CHECK(has_rule(violations_after(kVShape, "FS:1.0.0.0 FS:2.0.0.0", "FS:2.0.0.0 FS:1.0.0.0", v_shape), Rule::data_order,
                 "FS:2.0.0.0 comes before FS:1.0.0.0"));
  // Chunks out of order across devices: a deadlock.
  CHECK(has_rule(violations_after(kInterleaved, "FS:0.0.0.0 FS:0.0.0.1 FS:2.0.0.0", "FS:2.0.0.0 FS:0.0.0.0 FS:0.0.0.1", interleaved),
                 Rule::deadlock, "FS:2.0.0.0 waits forever for FS:1.0.0.0"));
  // A stage beyond the logical stages.
  const auto beyond = violations_after(kVShape, "OPT:3.0", "OPT:4.0", v_shape);
  CHECK(has_rule(beyond, Rule::unexpected, "stage 4 outside [0, 4)"));
  CHECK(has_rule(beyond, Rule::missing, "OPT:3.0 never appears"));
}

TEST_CASE("virtual stages: one-chunk generators refuse chunks, the runtime's workload gets none") {
  Workload w = kd_workload(4);
  w.chunks = 2;
  for (const char* name : {"gpipe", "1f1b", "sequential", "tspipe-paper"}) {
    auto g = planning::generate(name, w);
    CHECK(!g.ok());
    CHECK(g.message().find("runs one chunk per device") != std::string::npos);
  }
  Workload runtime = kd_workload(4);
  for (const char* name : {"interleaved-1f1b", "zbv"}) {
    auto g = planning::generate(name, runtime);
    CHECK(!g.ok());
    CHECK(g.message().find("chunks = 1") != std::string::npos);
  }
  runtime.per_micro_batch_loss = true;
  runtime.choose_split = true;
  CHECK(test::generated("tspipe", runtime).workload.chunks == 1);
}

TEST_CASE("virtual stages: generators are valid in both simulators, the teacher in the gaps") {
  for (const bool ssl : {false, true})
    for (const bool per_micro_batch : {false, true})
      for (const char* name : {"interleaved-1f1b", "zbv"}) {
        Workload w = ssl ? ssl_workload(4) : kd_workload(4);
        w.choose_chunks = true;
        w.per_micro_batch_loss = per_micro_batch;
        w.batches = 6;
        for (auto& c : w.costs.stages) c.transfer = 0.2;
        CAPTURE(name);
        CAPTURE(ssl);
        CAPTURE(per_micro_batch);
        const Generated g = test::generated(name, w);
        CHECK(g.workload.chunks == 2);
        const auto violations = validate(g.schedule, g.workload);
        CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : to_string(violations.front())));
        auto in_order = sim::simulate(g.schedule, g.workload);
        auto dynamic = sim::simulate_dynamic(g.schedule, g.workload);
        REQUIRE(in_order.ok());
        REQUIRE_MESSAGE(dynamic.ok(), dynamic.message());
        CHECK(in_order.value().utilisation > 0.5);
      }
}

// tspipe never below any generator, virtual-stage ones included, where they hold no more memory
// than gpipe (what tspipe may hold): with v chosen, or pinned to 2.
TEST_CASE("virtual stages: tspipe is never below interleaved-1f1b, zbv or a one-chunk generator") {
  std::mt19937 rng(16);
  std::uniform_real_distribution<double> around(0.5, 1.5), unit(0.0, 1.0);
  int comparisons = 0, virtual_comparisons = 0;
  for (const bool ssl : {false, true})
    for (const int S : {2, 3, 4, 6})
      for (const int M : {S - 1, S, 2 * S})
        for (const int variant : {0, 1, 2}) {
          if (M < 1) continue;
          Workload w = ssl ? ssl_workload(S) : kd_workload(S);
          w.micro_batches = M;
          w.batches = 6;
          w.per_micro_batch_loss = variant != 1;
          w.choose_split = w.choose_halves = variant != 2;
          w.choose_chunks = variant != 2;
          if (variant == 2) w.chunks = 2;
          for (StageCost& c : w.costs.stages) {
            c.teacher_forward = (variant == 0 ? 3.0 : 1.0) * around(rng);
            c.student_forward = around(rng);
            c.student_backward = 2.0 * around(rng);
            c.backward_input_share = unit(rng);
            c.transfer = variant == 1 ? 0.2 * around(rng) : 0.0;
            c.activation_memory = around(rng);
          }
          CAPTURE(ssl);
          CAPTURE(S);
          CAPTURE(M);
          CAPTURE(variant);
          const Generated ours = test::generated("tspipe", w);
          auto our_run = sim::simulate(ours.schedule, ours.workload);
          REQUIRE(our_run.ok());
          Workload one = w;
          one.chunks = 1;
          const auto gpipe = test::simulated("gpipe", one);
          for (std::size_t j = 0; j < gpipe.peak_activation_memory.size(); ++j)
            CHECK(our_run.value().peak_activation_memory[j] <= gpipe.peak_activation_memory[j] * (1.0 + 1e-9));
          for (const auto* names : {&planning::generator_names(), &planning::virtual_stage_generator_names()})
            for (const auto name : *names) {
              if (name == "tspipe") continue;
              auto g = planning::generate(name, w);
              if (!g) continue;
              if (!w.choose_split && g.value().workload.split != w.split) continue;
              if (!planning::teacher_lookahead_problem(g.value().schedule, g.value().workload).empty()) continue;
              auto theirs = sim::simulate(g.value().schedule, g.value().workload);
              REQUIRE(theirs.ok());
              bool fits = true;
              for (std::size_t j = 0; j < gpipe.peak_activation_memory.size(); ++j)
                fits = fits && theirs.value().peak_activation_memory[j] <= gpipe.peak_activation_memory[j] * (1.0 + 1e-9);
              if (!fits) continue;
              INFO(std::string(name), ": ", theirs.value().time_per_batch, " against tspipe's ", our_run.value().time_per_batch,
                   " (v = ", ours.workload.chunks, ")");
              CHECK(our_run.value().time_per_batch <= theirs.value().time_per_batch * (1.0 + 1e-9));
              ++comparisons;
              if (g.value().workload.chunks > 1) ++virtual_comparisons;
            }
        }
  MESSAGE(comparisons, " comparisons, ", virtual_comparisons, " with virtual stages");
  CHECK(virtual_comparisons > 100);
}

// The targets of docs/design.md "Virtual stages": at unit costs, M = S − 1, with a loss per
// micro-batch (KD's and BYOL's allow it), tspipe choosing v reaches ≥ 0.95 (KD) and ≥ 0.99 (SSL)
// at a per-device peak activation memory no more than gpipe's (one chunk per device, same M).
TEST_CASE("virtual stages: tspipe meets the utilisation targets within gpipe's memory") {
  for (const int S : {4, 8, 16})
    for (const bool ssl : {false, true}) {
      Workload w = ssl ? ssl_workload(S) : kd_workload(S);
      w.batches = 8;
      w.per_micro_batch_loss = true;
      CAPTURE(S);
      CAPTURE(ssl);
      const auto gpipe = test::simulated("gpipe", w);
      w.choose_chunks = true;
      w.choose_split = true;
      const Generated g = test::generated("tspipe", w);
      CHECK(g.workload.micro_batches == S - 1);
      auto r = sim::simulate(g.schedule, g.workload);
      REQUIRE(r.ok());
      MESSAGE("S = ", S, std::string(ssl ? " SSL" : " KD"), ": v = ", g.workload.chunks, " ", to_string(g.workload.chunk_placement),
              ", split ", to_string(g.workload.split), ", utilisation ", r.value().utilisation);
      CHECK(r.value().utilisation >= (ssl ? 0.99 : 0.95));
      for (int j = 0; j < S; ++j)
        CHECK(r.value().peak_activation_memory[static_cast<std::size_t>(j)] <=
              gpipe.peak_activation_memory[static_cast<std::size_t>(j)] + 1e-9);
    }
}
