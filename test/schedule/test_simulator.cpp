// The simulator against hand-computed timelines, its memory and version accounting, and exports.
#include "run_generator.hpp"

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>
#include <tspipe/planning/evaluate.hpp>
#include <tspipe/sim/export.hpp>
#include <tspipe/schedule/validator.hpp>

using namespace tspipe;
using namespace tspipe::schedule;
using namespace tspipe::planning;
using tspipe::test::simulated;

namespace {
Workload two_stage_kd(int micro_batches, int batches) {
  Workload w = kd_workload(2);
  w.micro_batches = micro_batches;
  w.batches = batches;
  return w;
}
}  // namespace

TEST_CASE("makespan by hand: 2-stage KD gpipe, M = 1, one batch") {
  // d0: FT [0,1) FS [1,2)                                   BS [5,7) OPT
  // d1:          FT [1,2) FS [2,3) LOSS [3,3) BS [3,5)             OPT
  const auto r = simulated("gpipe", two_stage_kd(1, 1));
  CHECK(r.makespan == 7.0);
  const auto& d1 = r.timeline[1];
  REQUIRE(d1.size() == 5);
  CHECK(d1[1].action == student_forward(1, 0, 0, 0));
  CHECK(d1[1].start == 2.0);
  CHECK(d1[3].action == student_backward(1, 0, 0, 0));
  CHECK(d1[3].start == 3.0);
  CHECK(r.timeline[0][2].start == 5.0);
}

TEST_CASE("makespan by hand: transfer costs delay only cross-device inputs") {
  Workload w = two_stage_kd(1, 1);
  for (auto& s : w.costs.stages) s.transfer = 0.5;
  // d1 FT [1.5,2.5), FS arrives 2.5 → [2.5,3.5), LOSS 3.5, BS [3.5,5.5); d0 BS at 6 → [6,8).
  const auto r = simulated("gpipe", w);
  CHECK(r.makespan == 8.0);
  CHECK(r.timeline[1][0].start == 1.5);
  CHECK(r.timeline[0][2].start == 6.0);
}

TEST_CASE("makespan by hand: micro-batches pipeline, costs split by M") {
  // M = 2: each slice costs half. d0: FT .5 .5, FS .5 .5 → forwards end at 2.
  // d1 starts at .5; its last FS ends at 2.5; LOSS; BS (1 each, LIFO) [2.5,3.5) [3.5,4.5);
  // d0: BS u1 [3.5,4.5), BS u0 [4.5,5.5).
  const auto r = simulated("gpipe", two_stage_kd(2, 1));
  CHECK(r.makespan == 5.5);
  // Costs per stage and loss/OPT/EMA costs are honoured.
  Workload w = two_stage_kd(1, 1);
  w.costs.stages[1].loss = 0.25;
  w.costs.stages[0].optimizer = 1.0;
  CHECK(simulated("gpipe", w).makespan == 8.25);
}

TEST_CASE("steady state: period and utilisation of a periodic schedule, independent of N") {
  for (int N : {4, 6, 11}) {
    Workload w = ssl_workload(4);
    w.batches = N;
    const auto r = simulated("gpipe", w);
    // Per batch: 8M slices of work plus 3(S−1) slices of waiting, each slice 1/M (M = 3).
    CHECK(r.time_per_batch == doctest::Approx((8.0 * 3 + 3 * 3) / 3).epsilon(1e-12));
    CHECK(r.utilisation == doctest::Approx(24.0 / 33.0));
    CHECK(r.bubble_fraction == doctest::Approx(9.0 / 33.0));
  }
}

TEST_CASE("serial speed-up equals utilisation × S") {
  for (const char* name : {"gpipe", "tspipe-paper", "tspipe"}) {
    Workload w = ssl_workload(6);
    w.batches = 8;
    const auto r = simulated(name, w);
    CHECK(r.speedup_vs_serial == doctest::Approx(r.utilisation * 6));
  }
}

TEST_CASE("memory: student activations live from FS until BS; teacher outputs until LOSS") {
  Workload w = two_stage_kd(2, 1);
  w.costs.stages[1].teacher_output_memory = 4.0;
  const auto r = simulated("gpipe", w);
  // gpipe holds every slice of the batch at once: activation_memory = 1 for the whole view.
  CHECK(r.peak_activation_memory[0] == doctest::Approx(1.0));
  // d1 also holds both teacher output slices (2 × 4/2) until LOSS, and the FS slices are live then.
  CHECK(r.peak_activation_memory[1] == doctest::Approx(1.0 + 4.0));
  CHECK(r.peak_teacher_outputs[1] == 2);
  CHECK(r.peak_teacher_outputs[0] == 0);
}

TEST_CASE("versions held: exact δ = 0 and the reference order keep one, a flush with δ = 1 two") {
  Workload w = ssl_workload(3);
  w.batches = 5;
  w.staleness = 0;
  for (int held : simulated("gpipe", w).teacher_versions_held) CHECK(held == 1);
  w.staleness = 1;
  // gpipe with δ = 1 reads ξ_{b−1} after EMA(b−1) has produced ξ_b: both are alive.
  for (int held : simulated("gpipe", w).teacher_versions_held) CHECK(held == 2);
  // The reference runs every teacher forward of batch b+1 before EMA(b): it updates in place.
  for (int held : simulated("tspipe-paper", w).teacher_versions_held) CHECK(held == 1);
  Workload in_place = w;
  in_place.teacher_versions = 1;
  auto paper = generate("tspipe-paper", in_place);
  REQUIRE(paper.ok());
  CHECK(validate(paper.value().schedule, paper.value().workload).empty());
}

TEST_CASE("evaluate: speed-up against sequential") {
  Workload w = ssl_workload(4);
  w.batches = 8;
  auto e = planning::evaluate("tspipe-paper", w);
  REQUIRE(e.ok());
  // sequential: 8 + 3(S−1) = 17 per batch; tspipe-paper: 8 (fully busy).
  CHECK(e.value().sequential_time_per_batch == doctest::Approx(17.0));
  CHECK(e.value().speedup_vs_sequential == doctest::Approx(17.0 / 8.0));
}

TEST_CASE("simulate refuses incomplete or stuck schedules with the reason") {
  Workload w = two_stage_kd(1, 1);
  auto g = generate("gpipe", w).value();
  g.schedule.devices[1].pop_back();
  auto r = sim::simulate(g.schedule, g.workload);
  REQUIRE_FALSE(r.ok());
  CHECK(r.message().find("validate first") != std::string::npos);

  auto stuck = generate("gpipe", w).value();
  std::swap(stuck.schedule.devices[1][0], stuck.schedule.devices[1][3]);  // BS before FT
  auto s = sim::simulate(stuck.schedule, stuck.workload);
  REQUIRE_FALSE(s.ok());
  CHECK(s.message().find("stuck") != std::string::npos);
}

TEST_CASE("exports: Chrome trace parses as JSON with one event per action; SVG and CSV complete") {
  Workload w = ssl_workload(3);
  w.batches = 2;
  const auto r = simulated("tspipe-paper", w);
  std::size_t actions = 0;
  for (const auto& d : r.timeline) actions += d.size();

  const auto trace = nlohmann::json::parse(sim::chrome_trace(r.timeline, "title \"quoted\""));
  std::size_t complete = 0;
  for (const auto& e : trace["traceEvents"]) {
    if (e["ph"] == "X") {
      ++complete;
      CHECK(e["dur"].get<double>() >= 0.0);
    }
  }
  CHECK(complete == actions);

  const std::string svg = sim::svg_timeline(r.timeline, "ssl <S=3>");
  CHECK(svg.rfind("<svg", 0) == 0);
  CHECK(svg.find("</svg>") != std::string::npos);
  CHECK(svg.find("<S=3>") == std::string::npos);  // the title is escaped
  std::size_t boxes = 0;
  for (std::size_t at = svg.find("<title>"); at != std::string::npos; at = svg.find("<title>", at + 1)) ++boxes;
  std::size_t nonzero = 0;
  for (const auto& d : r.timeline)
    for (const auto& t : d) nonzero += t.end > t.start ? 1 : 0;
  CHECK(boxes == nonzero);

  const std::string csv = sim::timeline_csv(r.timeline);
  CHECK(static_cast<std::size_t>(std::count(csv.begin(), csv.end(), '\n')) == actions + 1);
}
