// Generators: the reference order exactly, the unit-cost oracles of docs/design.md §2, and a validation
// sweep over S, M, V, δ and teacher kinds.
#include "run_generator.hpp"

#include <doctest/doctest.h>
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/validator.hpp>

using namespace tspipe;
using namespace tspipe::schedule;
using namespace tspipe::planning;
using tspipe::test::generated;
using tspipe::test::simulated;

namespace {

/// The reference generator on two batches of `w`: the shortest run in which a device takes the
/// next batch's teacher forwards around this batch's backward.
Generated paper_two_batches(Workload w) {
  w.batches = 2;
  return generated("tspipe-paper", w);
}

}  // namespace

TEST_CASE("tspipe-paper is exactly docs/design.md §2's order (SSL, S = 3, M = 2, two batches)") {
  // Written out by hand from docs/design.md §2: device j takes the first 2(S−1−j) teacher forwards of the
  // next batch before its backward halves (view 1 halves 3..0, then view 0), the rest after.
  const std::string expected =
      "d0: FT:0.0.0.0 FT:0.0.0.1 FT:0.0.1.0 FT:0.0.1.1 "
      "FS:0.0.0.0 FS:0.0.0.1 FS:0.0.1.0 FS:0.0.1.1 FT:0.1.0.0 FT:0.1.0.1 FT:0.1.1.0 FT:0.1.1.1 "
      "BS:0.0.1.3 BS:0.0.1.2 BS:0.0.1.1 BS:0.0.1.0 BS:0.0.0.3 BS:0.0.0.2 BS:0.0.0.1 BS:0.0.0.0 OPT:0.0 EMA:0.0 "
      "FS:0.1.0.0 FS:0.1.0.1 FS:0.1.1.0 FS:0.1.1.1 "
      "BS:0.1.1.3 BS:0.1.1.2 BS:0.1.1.1 BS:0.1.1.0 BS:0.1.0.3 BS:0.1.0.2 BS:0.1.0.1 BS:0.1.0.0 OPT:0.1 EMA:0.1\n"
      "d1: FT:1.0.0.0 FT:1.0.0.1 FT:1.0.1.0 FT:1.0.1.1 "
      "FS:1.0.0.0 FS:1.0.0.1 FS:1.0.1.0 FS:1.0.1.1 FT:1.1.0.0 FT:1.1.0.1 "
      "BS:1.0.1.3 BS:1.0.1.2 BS:1.0.1.1 BS:1.0.1.0 BS:1.0.0.3 BS:1.0.0.2 BS:1.0.0.1 BS:1.0.0.0 "
      "FT:1.1.1.0 FT:1.1.1.1 OPT:1.0 EMA:1.0 "
      "FS:1.1.0.0 FS:1.1.0.1 FS:1.1.1.0 FS:1.1.1.1 "
      "BS:1.1.1.3 BS:1.1.1.2 BS:1.1.1.1 BS:1.1.1.0 BS:1.1.0.3 BS:1.1.0.2 BS:1.1.0.1 BS:1.1.0.0 OPT:1.1 EMA:1.1\n"
      "d2: FT:2.0.0.0 FT:2.0.0.1 FT:2.0.1.0 FT:2.0.1.1 "
      "FS:2.0.0.0 FS:2.0.0.1 FS:2.0.1.0 FS:2.0.1.1 LOSS:0 "
      "BS:2.0.1.3 BS:2.0.1.2 BS:2.0.1.1 BS:2.0.1.0 BS:2.0.0.3 BS:2.0.0.2 BS:2.0.0.1 BS:2.0.0.0 "
      "FT:2.1.0.0 FT:2.1.0.1 FT:2.1.1.0 FT:2.1.1.1 OPT:2.0 EMA:2.0 "
      "FS:2.1.0.0 FS:2.1.0.1 FS:2.1.1.0 FS:2.1.1.1 LOSS:1 "
      "BS:2.1.1.3 BS:2.1.1.2 BS:2.1.1.1 BS:2.1.1.0 BS:2.1.0.3 BS:2.1.0.2 BS:2.1.0.1 BS:2.1.0.0 OPT:2.1 EMA:2.1\n";
  const Generated g = paper_two_batches(ssl_workload(3));
  CHECK(to_text(g.schedule) == expected);
  CHECK(g.workload.split == BackwardSplit::halves);
}

TEST_CASE("tspipe-paper for KD keeps the student's view 0 and the teacher's view 1 (S = 3)") {
  // SSL slot k of the next batch's teacher forwards maps to (view k/M, micro-batch k%M); KD keeps
  // k ≥ M. Device 1 splits at 2(S−1−1) = 2 = M: nothing of view 1 comes before the backward.
  const std::string expected =
      "d0: FT:0.0.0.0 FT:0.0.0.1 FS:0.0.0.0 FS:0.0.0.1 FT:0.1.0.0 FT:0.1.0.1 "
      "BS:0.0.0.3 BS:0.0.0.2 BS:0.0.0.1 BS:0.0.0.0 OPT:0.0 "
      "FS:0.1.0.0 FS:0.1.0.1 BS:0.1.0.3 BS:0.1.0.2 BS:0.1.0.1 BS:0.1.0.0 OPT:0.1\n"
      "d1: FT:1.0.0.0 FT:1.0.0.1 FS:1.0.0.0 FS:1.0.0.1 "
      "BS:1.0.0.3 BS:1.0.0.2 BS:1.0.0.1 BS:1.0.0.0 FT:1.1.0.0 FT:1.1.0.1 OPT:1.0 "
      "FS:1.1.0.0 FS:1.1.0.1 BS:1.1.0.3 BS:1.1.0.2 BS:1.1.0.1 BS:1.1.0.0 OPT:1.1\n"
      "d2: FT:2.0.0.0 FT:2.0.0.1 FS:2.0.0.0 FS:2.0.0.1 LOSS:0 "
      "BS:2.0.0.3 BS:2.0.0.2 BS:2.0.0.1 BS:2.0.0.0 FT:2.1.0.0 FT:2.1.0.1 OPT:2.0 "
      "FS:2.1.0.0 FS:2.1.0.1 LOSS:1 BS:2.1.0.3 BS:2.1.0.2 BS:2.1.0.1 BS:2.1.0.0 OPT:2.1\n";
  CHECK(to_text(paper_two_batches(kd_workload(3)).schedule) == expected);
}

TEST_CASE("tspipe-paper rejects shapes the reference does not run, naming the field") {
  const auto message_for = [](Workload w) {
    auto g = generate("tspipe-paper", w);
    REQUIRE_FALSE(g.ok());
    return g.message();
  };
  Workload w = ssl_workload(4);
  w.micro_batches = 5;
  CHECK(message_for(w).find("micro_batches = 5") != std::string::npos);
  w = ssl_workload(4);
  w.views = 3;
  CHECK(message_for(w).find("views = 3") != std::string::npos);
  w = ssl_workload(4);
  w.staleness = 0;
  CHECK(message_for(w).find("staleness = 0") != std::string::npos);
  w = kd_workload(4);
  w.views = 2;
  CHECK(message_for(w).find("views = 2") != std::string::npos);
  CHECK(message_for(ssl_workload(1)).find("stages = 1") != std::string::npos);
  w = ssl_workload(4);
  w.split = BackwardSplit::input_weight;
  CHECK(message_for(w).find("halves") != std::string::npos);
}

TEST_CASE("unknown generator names list the known ones") {
  auto g = generate("zigzag", ssl_workload(2));
  REQUIRE_FALSE(g.ok());
  CHECK(g.message() ==
        "unknown schedule 'zigzag' (known: sequential, gpipe, 1f1b, tspipe-paper, tspipe; with virtual stages: interleaved-1f1b, zbv)");
}

TEST_CASE("unit-cost oracles of docs/design.md §2 hold in steady state for S = 2…16") {
  for (int S = 2; S <= 16; ++S) {
    CAPTURE(S);
    const double M = S - 1;
    Workload ssl = ssl_workload(S), kd = kd_workload(S);
    ssl.batches = kd.batches = 6;
    CHECK(simulated("tspipe-paper", ssl).utilisation == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(simulated("tspipe-paper", kd).utilisation == doctest::Approx(0.8).epsilon(1e-12));
    CHECK(simulated("gpipe", ssl).utilisation == doctest::Approx(8 * M / (8 * M + 3 * (S - 1))).epsilon(1e-12));
    CHECK(simulated("gpipe", kd).utilisation == doctest::Approx(4 * M / (4 * M + 3 * (S - 1))).epsilon(1e-12));
    CHECK(simulated("sequential", ssl).utilisation == doctest::Approx(8.0 / (3 * S + 5)).epsilon(1e-12));
    CHECK(simulated("sequential", kd).utilisation == doctest::Approx(4.0 / (3 * S + 1)).epsilon(1e-12));
    // gpipe at other M follows the same closed form.
    for (int m : {1, 2, 3 * S}) {
      Workload w = ssl;
      w.micro_batches = m;
      CHECK(simulated("gpipe", w).utilisation == doctest::Approx(8.0 * m / (8.0 * m + 3 * (S - 1))).epsilon(1e-12));
    }
  }
}

TEST_CASE("tspipe fills at least as well as tspipe-paper with the same backward halves") {
  for (int S : {2, 4, 8, 16}) {
    CAPTURE(S);
    for (double ratio : {1.0, 3.0}) {
      for (bool is_ssl : {true, false}) {
        Workload w = is_ssl ? ssl_workload(S) : kd_workload(S);
        w.batches = 8;
        w.split = BackwardSplit::halves;
        w.costs = CostModel::teacher_ratio(S, ratio);
        const double paper = simulated("tspipe-paper", w).time_per_batch;
        const double ours = simulated("tspipe", w).time_per_batch;
        CHECK(ours <= paper * (1.0 + 1e-9));
      }
    }
  }
}

TEST_CASE("every generator validates clean over S 1…16, M 1…3S, V 1…3, δ 0…2, both teacher kinds") {
  // The sweep the issue pins. M takes its ends and a few values between to keep the suite fast
  // in sanitizer builds; S, V, δ and teacher kinds are covered in full.
  std::size_t schedules = 0, actions = 0;
  for (int S = 1; S <= 16; ++S) {
    std::vector<int> micro = {1, 2, 3, S - 1, S, S + 1, 2 * S, 3 * S};
    std::sort(micro.begin(), micro.end());
    micro.erase(std::unique(micro.begin(), micro.end()), micro.end());
    for (int M : micro) {
      if (M < 1) continue;
      for (int V = 1; V <= 3; ++V)
        for (int teacher = 0; teacher < 4; ++teacher) {  // frozen, then momentum δ = 0, 1, 2
          Workload w;
          w.stages = S;
          w.micro_batches = M;
          w.views = V;
          w.batches = 3;
          w.teacher = teacher == 0 ? TeacherKind::frozen : TeacherKind::momentum;
          w.staleness = teacher == 0 ? 0 : teacher - 1;
          w.warmup = (S + M) % 3 == 0 ? 1 : 0;
          w.split = static_cast<BackwardSplit>((S + V + teacher) % 3);
          w.costs = CostModel::teacher_ratio(S, 1.0 + (M % 3));
          for (auto name : generator_names()) {
            auto g = generate(name, w);
            if (!g.ok()) {  // only the reference order refuses shapes
              CHECK_MESSAGE(name == "tspipe-paper", g.message());
              continue;
            }
            const auto violations = validate(g.value().schedule, g.value().workload, 3);
            if (!violations.empty()) {
              INFO(name, " S=", S, " M=", M, " V=", V, " teacher=", teacher, ": ", to_string(violations.front()));
              CHECK(violations.empty());
            }
            ++schedules;
            actions += g.value().schedule.num_actions();
          }
        }
    }
  }
  MESSAGE("validated " << schedules << " schedules, " << actions << " actions");
  CHECK(schedules > 4000);
}

TEST_CASE("flush schedules need δ + 1 teacher buffers; with fewer, generators say so") {
  Workload w = ssl_workload(4);
  w.teacher_versions = 1;  // in place, but δ = 1
  auto g = generate("gpipe", w);
  REQUIRE_FALSE(g.ok());
  CHECK(g.message().find("needs 2 teacher buffers") != std::string::npos);
  w.staleness = 0;
  CHECK(generate("gpipe", w).ok());
}

TEST_CASE("frozen teacher look-ahead: tspipe runs teacher forwards at most L batches ahead") {
  for (int lookahead : {0, 1, 2}) {
    Workload w = kd_workload(4);
    w.batches = 6;
    w.teacher_lookahead = lookahead;
    auto g = generate("tspipe", w);
    REQUIRE(g.ok());
    CHECK(validate(g.value().schedule, g.value().workload).empty());
    for (const auto& device : g.value().schedule.devices) {
      int student_batch = 0;
      for (const Action& a : device) {
        if (a.kind == ActionKind::StudentForward) student_batch = a.batch;
        if (a.kind == ActionKind::TeacherForward) CHECK(a.batch <= student_batch + lookahead + 1);
      }
    }
  }
}
