// The validator catches each kind of planted violation, names device, position and rule, and
// never throws — not even on garbage.
#include <doctest/doctest.h>
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/validator.hpp>

#include <algorithm>

using namespace tspipe::schedule;
using namespace tspipe::planning;

namespace {

Generated valid(const char* name, Workload w) {
  auto g = generate(name, w);
  REQUIRE_MESSAGE(g.ok(), g.message());
  REQUIRE(validate(g.value().schedule, g.value().workload).empty());
  return std::move(g).value();
}

std::vector<Violation> of_rule(const std::vector<Violation>& all, Rule rule) {
  std::vector<Violation> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const Violation& v) { return v.rule == rule; });
  return out;
}

std::size_t position_of(const std::vector<Action>& list, const Action& a) {
  const auto it = std::find(list.begin(), list.end(), a);
  REQUIRE(it != list.end());
  return static_cast<std::size_t>(it - list.begin());
}

Workload small_ssl() {
  Workload w = ssl_workload(3);
  w.batches = 3;
  return w;
}

}  // namespace

TEST_CASE("duplicate: the second copy is reported with where the first one is") {
  auto g = valid("gpipe", small_ssl());
  auto& d1 = g.schedule.devices[1];
  d1.insert(d1.begin() + 5, d1[2]);
  const auto violations = validate(g.schedule, g.workload);
  const auto dup = of_rule(violations, Rule::duplicate);
  REQUIRE(dup.size() == 1);
  CHECK(dup[0].device == 1);
  CHECK(dup[0].position == 5);
  CHECK(dup[0].message == to_token(d1[2]) + " already appears on d1 @2");
}

TEST_CASE("missing: an action that never appears, on the device it belongs to") {
  auto g = valid("1f1b", small_ssl());
  auto& d2 = g.schedule.devices[2];
  const Action dropped = student_backward(2, 1, 0, 1);
  d2.erase(d2.begin() + static_cast<std::ptrdiff_t>(position_of(d2, dropped)));
  const auto missing = of_rule(validate(g.schedule, g.workload), Rule::missing);
  REQUIRE(missing.size() == 1);
  CHECK(missing[0].device == 2);
  CHECK(missing[0].position == -1);
  CHECK(missing[0].message == "BS:2.1.0.1 never appears");
}

TEST_CASE("unexpected and placement: out-of-range fields, wrong kinds, wrong devices") {
  Workload kd = kd_workload(2);
  kd.batches = 2;
  auto g = valid("gpipe", kd);
  g.schedule.devices[0].push_back(student_forward(0, 5, 0, 0));   // batch out of range
  g.schedule.devices[0].push_back(student_forward(0, 0, 1, 0));   // view out of range (V = 1)
  g.schedule.devices[0].push_back(ema_update(0, 0));              // frozen teacher has no EMA
  g.schedule.devices[0].push_back(backward_input(0, 0, 0, 0));    // full backward, no BI
  g.schedule.devices[0].push_back(student_forward(7, 0, 0, 0));   // no stage 7
  auto violations = validate(g.schedule, g.workload);
  const auto unexpected = of_rule(violations, Rule::unexpected);
  REQUIRE(unexpected.size() == 5);
  CHECK(unexpected[0].message.find("batch 5 outside [0, 2)") != std::string::npos);
  CHECK(unexpected[1].message.find("view 1 outside [0, 1)") != std::string::npos);
  CHECK(unexpected[2].message.find("frozen") != std::string::npos);
  CHECK(unexpected[3].message.find("does not split") != std::string::npos);
  CHECK(unexpected[4].message.find("stage 7") != std::string::npos);

  auto moved = valid("gpipe", kd);
  auto& d0 = moved.schedule.devices[0];
  const auto at = position_of(d0, teacher_forward(0, 1, 0, 0));
  moved.schedule.devices[1].push_back(d0[at]);
  d0.erase(d0.begin() + static_cast<std::ptrdiff_t>(at));
  const auto placement = of_rule(validate(moved.schedule, moved.workload), Rule::placement);
  REQUIRE(placement.size() == 1);
  CHECK(placement[0].device == 1);
  CHECK(placement[0].message == "FT:0.1.0.0 belongs on d0");
}

TEST_CASE("data order: a backward before its forward on the same device") {
  auto g = valid("gpipe", small_ssl());
  auto& d0 = g.schedule.devices[0];
  const auto fs = position_of(d0, student_forward(0, 0, 1, 1));
  const auto bs = position_of(d0, student_backward(0, 0, 1, 1));
  std::swap(d0[fs], d0[bs]);
  const auto violations = validate(g.schedule, g.workload);
  const auto order = of_rule(violations, Rule::data_order);
  REQUIRE_FALSE(order.empty());
  CHECK(order[0].device == 0);
  CHECK(order[0].position == static_cast<int>(fs));
  CHECK(order[0].message.find("BS:0.0.1.1 comes before FS:0.0.1.1") != std::string::npos);
  CHECK_FALSE(of_rule(violations, Rule::deadlock).empty());  // it also cannot run
}

TEST_CASE("version: a student forward before the previous batch's OPT") {
  auto g = valid("gpipe", small_ssl());
  auto& d1 = g.schedule.devices[1];
  const auto opt = position_of(d1, optimizer_step(1, 0));
  const auto fs = position_of(d1, student_forward(1, 1, 0, 0));
  const Action moved = d1[fs];
  d1.erase(d1.begin() + static_cast<std::ptrdiff_t>(fs));
  d1.insert(d1.begin() + static_cast<std::ptrdiff_t>(opt), moved);
  const auto version = of_rule(validate(g.schedule, g.workload), Rule::version);
  REQUIRE(version.size() == 1);
  CHECK(version[0].message.find("FS:1.1.0.0 comes before OPT:1.0") != std::string::npos);
}

TEST_CASE("version: a teacher forward after the EMA that overwrites the version it reads") {
  Workload w = small_ssl();
  w.staleness = 0;
  w.teacher_versions = 1;  // updated in place
  auto g = valid("gpipe", w);
  auto& d2 = g.schedule.devices[2];
  // Batch 1's teacher reads ξ_1 (δ = 0); moving it after EMA:2.1 makes it read ξ_2.
  const auto ft = position_of(d2, teacher_forward(2, 1, 1, 0));
  const Action moved = d2[ft];
  d2.erase(d2.begin() + static_cast<std::ptrdiff_t>(ft));
  d2.insert(d2.begin() + static_cast<std::ptrdiff_t>(position_of(d2, ema_update(2, 1)) + 1), moved);
  const auto violations = validate(g.schedule, g.workload);
  const auto version = of_rule(violations, Rule::version);
  REQUIRE_FALSE(version.empty());
  CHECK(version[0].message.find("FT:2.1.1.0 reads the teacher version that EMA:2.1") != std::string::npos);

  // And a teacher forward before the EMA that produces the version it needs.
  auto early = valid("gpipe", w);
  auto& e0 = early.schedule.devices[0];
  const auto ft2 = position_of(e0, teacher_forward(0, 2, 0, 0));
  const Action moved2 = e0[ft2];
  e0.erase(e0.begin() + static_cast<std::ptrdiff_t>(ft2));
  e0.insert(e0.begin(), moved2);
  const auto needs = of_rule(validate(early.schedule, early.workload), Rule::version);
  REQUIRE_FALSE(needs.empty());
  CHECK(needs[0].message.find("FT:0.2.0.0 comes before EMA:0.1") != std::string::npos);
}

TEST_CASE("deadlock: two devices waiting on each other, each list locally fine") {
  // Device 0 postpones a teacher forward behind its backward; device 1 needs that teacher output
  // for LOSS before it can send any gradient back. No device breaks an order of its own.
  Workload w = kd_workload(2);
  w.micro_batches = 2;
  w.batches = 1;
  auto g = valid("gpipe", w);
  auto& d0 = g.schedule.devices[0];
  const auto ft = position_of(d0, teacher_forward(0, 0, 0, 1));
  const Action moved = d0[ft];
  d0.erase(d0.begin() + static_cast<std::ptrdiff_t>(ft));
  d0.insert(d0.begin() + static_cast<std::ptrdiff_t>(position_of(d0, student_backward(0, 0, 0, 0)) + 1), moved);
  const auto violations = validate(g.schedule, g.workload);
  CHECK(of_rule(violations, Rule::data_order).empty());
  CHECK(of_rule(violations, Rule::version).empty());
  const auto deadlock = of_rule(violations, Rule::deadlock);
  REQUIRE(deadlock.size() == 2);
  CHECK(deadlock[0].device == 0);
  CHECK(deadlock[0].message == "BS:0.0.0.1 waits forever for BS:1.0.0.1 (d1 @5)");
  CHECK(deadlock[1].device == 1);
  CHECK(deadlock[1].position == 1);
  CHECK(deadlock[1].message == "FT:1.0.0.1 waits forever for FT:0.0.0.1 (d0 @5)");
}

TEST_CASE("the validator never throws: empty, foreign and oversized schedules") {
  Workload w = small_ssl();
  CHECK_NOTHROW(validate(Schedule{}, w));
  const auto empty = validate(Schedule{}, w);
  CHECK_FALSE(of_rule(empty, Rule::placement).empty());
  CHECK_FALSE(of_rule(empty, Rule::missing).empty());
  // Reports are capped per rule with a closing count.
  CHECK(empty.back().message.find("more missing violations") != std::string::npos);

  Schedule junk;
  junk.devices.resize(5);
  junk.devices[4] = {student_forward(9, 9, 9, 9), loss(4, 0), loss(4, 0)};
  CHECK_NOTHROW(validate(junk, w));

  Workload bad = w;
  bad.micro_batches = 0;
  const auto invalid = validate(junk, bad);
  REQUIRE(invalid.size() == 1);
  CHECK(invalid[0].rule == Rule::workload);
  CHECK(invalid[0].message.find("micro_batches = 0") != std::string::npos);
}

TEST_CASE("warm-up: the first K batches read ξ_b, so their teachers wait for the previous EMA") {
  Workload w = small_ssl();
  w.warmup = 2;
  w.batches = 4;
  auto g = valid("tspipe", w);
  // tspipe may not run batch 1's teacher before EMA(0) during warm-up.
  for (const auto& device : g.schedule.devices) {
    const auto ema0 = std::find(device.begin(), device.end(), ema_update(device.front().stage, 0));
    const auto ft1 = std::find_if(device.begin(), device.end(), [](const Action& a) {
      return a.kind == ActionKind::TeacherForward && a.batch == 1;
    });
    CHECK(ema0 < ft1);
  }
}
