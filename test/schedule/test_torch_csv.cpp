// PyTorch's compute-only schedule CSV: the per-micro-batch loss it needs, reading and writing it
// (a 1F1B fixture written here), the errors a broken one gets, and `fill` putting a teacher into
// a student's 1F1B without changing the student's order.
#include <doctest/doctest.h>
#include <tspipe/planning/generate.hpp>
#include <tspipe/planning/teacher_fill.hpp>
#include <tspipe/schedule/torch_csv.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/simulator.hpp>

#include <fstream>
#include <sstream>
#include <string>

using namespace tspipe;
using namespace tspipe::schedule;

namespace {

/// A student trained alone with a per-micro-batch loss: what a PyTorch schedule is for.
Workload student_workload(int S, int M, int batches = 6) {
  Workload w;
  w.stages = S;
  w.micro_batches = M;
  w.batches = batches;
  w.teacher = TeacherKind::none;
  w.per_micro_batch_loss = true;
  w.costs = CostModel::unit(S);
  return w;
}

/// PyTorch's Schedule1F1B, written out here from its definition: stage s runs min(M, S − s)
/// forwards, then alternates one backward and one forward, then the remaining backwards; the last
/// stage's loss of micro-batch u follows its forward of u; each step ends with OPT.
Schedule one_f_one_b(const Workload& w) {
  Schedule out;
  const int S = w.stages, M = w.micro_batches;
  for (int s = 0; s < S; ++s) {
    auto& list = out.devices.emplace_back();
    for (int b = 0; b < w.batches; ++b) {
      int forwards = 0, backwards = 0;
      const auto forward = [&] {
        list.push_back(student_forward(s, b, 0, forwards));
        if (s == S - 1) list.push_back(loss(s, b, forwards));
        ++forwards;
      };
      while (forwards < std::min(M, S - s)) forward();
      while (backwards < M) {
        list.push_back(student_backward(s, b, 0, backwards++));
        if (forwards < M) forward();
      }
      list.push_back(optimizer_step(s, b));
    }
  }
  return out;
}

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(TSPIPE_SCHEDULE_DATA_DIR) + "/" + name, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open fixture ", name);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool mentions(const std::vector<Violation>& violations, Rule rule, const std::string& text) {
  for (const Violation& v : violations)
    if (v.rule == rule && v.message.find(text) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("a per-micro-batch loss: LOSS:b.u tokens, and 1F1B's order is valid only under it") {
  CHECK(to_token(loss(3, 5, 2)) == "LOSS:5.2");
  CHECK(to_token(loss(3, 5, 0)) == "LOSS:5");
  CHECK(parse_token("LOSS:5.2", 3).value() == loss(3, 5, 2));
  CHECK(parse_token("LOSS:5", 3).value() == loss(3, 5, 0));

  const Workload w = student_workload(4, 8);
  const Schedule schedule = one_f_one_b(w);
  const auto violations = validate(schedule, w);
  CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : to_string(violations.front())));

  // With one whole-batch loss the last stage could not start a backward before its last forward.
  Workload whole = w;
  whole.per_micro_batch_loss = false;
  const auto refused = validate(schedule, whole);
  CHECK(mentions(refused, Rule::unexpected, "LOSS:0.1: the workload's loss is per batch"));
  CHECK(mentions(refused, Rule::deadlock, "waits forever"));

  // A teacher's outputs join the loss of their own micro-batch only.
  Workload kd = w;
  kd.teacher = TeacherKind::frozen;
  std::vector<Action> producers;
  for_each_dependency(kd, loss(3, 0, 5), [&](const Action& a, DependencyKind) {
    producers.push_back(a);
    return true;
  });
  CHECK(producers == std::vector<Action>{teacher_forward(3, 0, 0, 5), student_forward(3, 0, 0, 5)});
}

TEST_CASE("under a per-micro-batch loss the 1f1b generator is PyTorch's 1F1B; every generator validates") {
  for (int S = 1; S <= 8; ++S)
    for (int M : {1, S, 2 * S}) {
      const Workload w = student_workload(S, M, 3);
      auto g = planning::generate("1f1b", w);
      REQUIRE(g.ok());
      CHECK(g.value().schedule == one_f_one_b(w));
    }
  std::size_t schedules = 0;
  for (int S = 1; S <= 8; ++S)
    for (int M : {1, 2, S, 2 * S})
      for (int V = 1; V <= 2; ++V)
        for (int teacher = 0; teacher < 4; ++teacher)  // none, frozen, momentum δ = 0, 1
          for (BackwardSplit split : {BackwardSplit::full, BackwardSplit::input_weight, BackwardSplit::halves}) {
            Workload w = student_workload(S, M, 3);
            w.views = V;
            w.split = split;
            w.teacher = teacher == 0 ? TeacherKind::none : teacher == 1 ? TeacherKind::frozen : TeacherKind::momentum;
            w.staleness = teacher == 3 ? 1 : 0;
            w.costs = CostModel::teacher_ratio(S, 1.0 + S % 3);
            for (auto name : planning::generator_names()) {
              auto g = planning::generate(name, w);
              if (!g) {  // only the reference order refuses shapes (and a student without teacher)
                CHECK_MESSAGE(name == "tspipe-paper", name, ": ", g.message());
                continue;
              }
              const auto violations = validate(g.value().schedule, g.value().workload, 2);
              INFO(name, " S=", S, " M=", M, " V=", V, " teacher=", teacher, " split=", to_string(split), ": ",
                   (violations.empty() ? "" : to_string(violations.front())));
              CHECK(violations.empty());
              ++schedules;
            }
          }
  MESSAGE("validated " << schedules << " schedules under a per-micro-batch loss");
}

TEST_CASE("1F1B with a per-micro-batch loss: the textbook time and 1F1B's memory saving") {
  // Per batch each device runs M forwards (1/M) and M backwards (2/M); 1F1B's makespan is
  // (M + S − 1)(FS + BS)/M, and the next batch's first forward waits for stage 0's OPT, which
  // ends it. Stage s holds at most min(M, S − s) micro-batches' activations (1/M each); gpipe
  // holds all M.
  for (int S : {2, 4, 8})
    for (int M : {S, 2 * S}) {
      CAPTURE(S);
      CAPTURE(M);
      const Workload w = student_workload(S, M);
      auto r = sim::simulate(one_f_one_b(w), w);
      REQUIRE(r.ok());
      CHECK(r.value().time_per_batch == doctest::Approx(3.0 * (M + S - 1) / M).epsilon(1e-12));
      for (int s = 0; s < S; ++s)
        CHECK(r.value().peak_activation_memory[static_cast<std::size_t>(s)] ==
              doctest::Approx(static_cast<double>(std::min(M, S - s)) / M).epsilon(1e-12));
    }
}

TEST_CASE("1F1B written in PyTorch's compute-only form, one row per rank, and read back") {
  // S = 2, M = 3 laid out by hand: every compute cell takes one step and a result is usable the
  // step after; rank 0 waits two steps for its first gradient, rank 1 one step for its first input.
  const Workload small = student_workload(2, 3, 1);
  auto written = to_torch_csv(one_f_one_b(small), small);
  REQUIRE_MESSAGE(written.ok(), written.message());
  CHECK(written.value() == "0F0,0F1,,0B0,0F2,0B1,,0B2\r\n,1F0,1B0,1F1,1B1,1F2,1B2\r\n");

  // The fixture the CLI tests read is exactly what the writer makes of 1F1B at S = 4, M = 8.
  const Workload w = student_workload(4, 8);
  const Schedule schedule = one_f_one_b(w);
  written = to_torch_csv(schedule, w);
  REQUIRE(written.ok());
  CHECK(written.value() == fixture("torch_1f1b_s4_m8.csv"));

  auto csv = parse_torch_csv(written.value());
  REQUIRE_MESSAGE(csv.ok(), csv.message());
  CHECK(csv.value().ranks.size() == 4);
  CHECK(to_string(csv.value().ranks[3][1]) == "3B0");  // the last stage: F0 then B0 at once
  auto imported = import_torch_csv(csv.value(), w.batches);
  REQUIRE_MESSAGE(imported.ok(), imported.message());
  CHECK(imported.value().schedule == schedule);
  CHECK(imported.value().workload.micro_batches == 8);
  CHECK(imported.value().workload.split == BackwardSplit::full);
  CHECK(imported.value().workload.teacher == TeacherKind::none);
  CHECK(imported.value().workload.per_micro_batch_loss);
  // The LOSS and OPT the import inserted have no cell; a forward names its rank and column.
  CHECK(imported.value().column[3][1] == -1);                      // LOSS:0 after 3F0
  CHECK(imported.value().column[3][0] == 3);                       // 3F0 waits three steps
  CHECK(imported.value().rank[2][0] == 2);
}

TEST_CASE("zero-bubble cells: I and W set the BI/BW split, a B becomes BI then BW; OVERLAP_F_B pairs") {
  // S = 2, M = 2 with the weight gradients deferred on rank 0 and one full backward.
  const std::string text = "0F0,0F1,,,0I0,0I1,0W0,0W1\n,1F0,1I0,1F1,1B1,1W0\n";
  auto csv = parse_torch_csv(text);
  REQUIRE_MESSAGE(csv.ok(), csv.message());
  auto imported = import_torch_csv(csv.value(), 3);
  REQUIRE_MESSAGE(imported.ok(), imported.message());
  const TorchImport& in = imported.value();
  CHECK(in.workload.split == BackwardSplit::input_weight);
  const auto& d1 = in.schedule.devices[1];
  // 1F0 LOSS 1I0 1F1 LOSS [1B1 = BI BW] 1W0 OPT
  CHECK(to_text(Schedule{"", {d1}}).find("BI:1.0.0.1 BW:1.0.0.1 BW:1.0.0.0 OPT:1.0") != std::string::npos);
  CHECK(in.column[1][5] == 4);
  CHECK(in.column[1][6] == 4);  // both halves of the B name its cell
  const auto violations = validate(in.schedule, in.workload);
  CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : to_string(violations.front())));

  // DualPipeV's overlapped pair: both actions, in order, from one cell.
  auto overlap = parse_torch_csv("0F0,(0F1;0B0)OVERLAP_F_B,0B1\n");
  REQUIRE_MESSAGE(overlap.ok(), overlap.message());
  CHECK(overlap.value().ranks[0] == std::vector<TorchAction>{{0, 'F', 0}, {0, 'F', 1}, {0, 'B', 0}, {0, 'B', 1}});
  CHECK(overlap.value().columns[0] == std::vector<int>{0, 1, 1, 2});
}

TEST_CASE("broken PyTorch CSVs: cells, shapes and orders are rejected, naming what is wrong") {
  const std::pair<const char*, const char*> refused[] = {
      // Cells that do not read.
      {"0F0,0X1\n", "unknown action type 'X'"},
      {"0F0,0SEND_F0\n", "compute_comms form"},
      {"F0\n", "expected <stage><F|B|I|W><micro-batch>"},
      {"0F\n", "micro-batch index is missing"},
      {"0F0,\"0B0\n", "quoted cell is not closed"},
      {"(0F0;0B0)\n", "OVERLAP_F_B"},
      {"", "empty input"},
      // Shapes tspipe's IR cannot hold.
      {"0F0,3F0,5F0\n1F0,2F0,4F0\n", "placed neither interleaved"},  // three stages per rank, neither layout
      {"0F0,2F0,4F0\n1F0,3F0\n", "5 stages on 2 ranks"},
      {"0F0,0B0\n0F1\n", "stage 0 appears on ranks 0 and 1"},
      {"0F0,0B0\n2F0,2B0\n", "stage 1 appears on no rank"},
      {"0F0,0B0\n\n2F0\n", "rank 1 (line 2): has no actions"},
      {"0F0,0B999\n", "micro-batch index 999"},
  };
  for (const auto& [text, why] : refused) {
    auto csv = parse_torch_csv(text);
    auto imported = csv ? import_torch_csv(csv.value()) : Result<TorchImport>::failure(csv.message());
    INFO(text, " -> ", imported.message());
    REQUIRE_FALSE(imported.ok());
    CHECK(imported.message().find(why) != std::string::npos);
  }
  // Readable and mappable, but not a schedule that can run.
  const auto violations_of = [](const char* text) {
    auto imported = import_torch_csv(parse_torch_csv(text).value(), 2);
    REQUIRE(imported.ok());
    return validate(imported.value().schedule, imported.value().workload);
  };
  // Rank 1 runs a backward before the forward it differentiates.
  CHECK(mentions(violations_of("0F0,0B0\n1B0,1F0\n"), Rule::data_order, "BS:1.0.0.0 comes before FS:1.0.0.0"));
  // Rank 0 waits for micro-batch 0's gradient, which rank 1 computes only after micro-batch 1.
  CHECK(mentions(violations_of("0F0,0B0,0F1,0B1\n1F1,1B1,1F0,1B0\n"), Rule::deadlock, "waits forever"));
  // A micro-batch without its backward on rank 1.
  CHECK(mentions(violations_of("0F0,0F1,0B0,0B1\n1F0,1B0,1F1\n"), Rule::missing, "BS:1.0.0.1 never appears"));
  // The committed broken fixture (what the CLI test reads) deadlocks the same way.
  auto broken = import_torch_csv(parse_torch_csv(fixture("torch_broken.csv")).value());
  REQUIRE(broken.ok());
  CHECK(mentions(validate(broken.value().schedule, broken.value().workload), Rule::deadlock, "waits forever"));
}

TEST_CASE("fill: a teacher goes into 1F1B's bubbles, every device keeps the student's order") {
  // 1F1B at S = 4, M = 8 idles (S − 1)(FS + BS)/M = 9/8 per device and batch; a teacher as heavy
  // as the student's forward adds 1 per device and batch, so filled in the gaps it costs little
  // time, while placed right before each student forward it lengthens every step.
  for (bool ssl : {false, true})
    for (double ratio : {0.5, 1.0}) {
      CAPTURE(ssl);
      CAPTURE(ratio);
      const Workload student = student_workload(4, 8, 8);
      const Schedule original = one_f_one_b(student);
      Workload target = student;
      target.teacher = ssl ? TeacherKind::momentum : TeacherKind::frozen;
      target.staleness = ssl ? 1 : 0;
      target.costs = CostModel::teacher_ratio(4, ratio);
      auto filled = planning::fill_teacher(original, target);
      REQUIRE_MESSAGE(filled.ok(), filled.message());
      const Schedule& out = filled.value().filled.schedule;
      const auto violations = validate(out, target);
      CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : to_string(violations.front())));
      for (std::size_t j = 0; j < out.devices.size(); ++j) {
        std::vector<Action> student_part;
        for (const Action& a : out.devices[j])
          if (a.kind != ActionKind::TeacherForward && a.kind != ActionKind::Ema) student_part.push_back(a);
        CHECK(student_part == original.devices[j]);
      }
      const double before = sim::simulate(original, student).value().time_per_batch;  // 33/8
      const double after = sim::simulate(out, target).value().time_per_batch;
      CHECK(after == doctest::Approx(filled.value().time_per_batch).epsilon(1e-12));
      CHECK(before == doctest::Approx(33.0 / 8).epsilon(1e-12));
      // No faster than the student alone, and clearly better than the plain placement; a teacher
      // half the student's forward (1/2 per device and step, under half the 9/8 idle) is hidden.
      CHECK(after >= before * (1.0 - 1e-12));
      CHECK(after < filled.value().plain_time_per_batch * 0.95);
      if (ratio == 0.5) CHECK(after == doctest::Approx(before).epsilon(1e-12));
      CHECK(filled.value().in_gaps);
      MESSAGE(std::string(ssl ? "ssl" : "kd") << " teacher " << ratio << ": original " << before << ", filled " << after
                                              << ", teacher before each forward " << filled.value().plain_time_per_batch);
    }
}

// Under a per-micro-batch loss LOSS:b.u frees micro-batch u's teacher outputs only, not the
// whole batch's.
TEST_CASE("memory: a per-micro-batch LOSS frees only its own micro-batch's teacher outputs") {
  // One stage, M = 2, teacher outputs only (1 per batch, so 1/2 a slice). Batch 0 takes each
  // micro-batch's loss as soon as it can (at most one slice held); batch 1 holds both slices until
  // its losses: its peak is 1 whole unit.
  Workload w = student_workload(1, 2, 2);
  w.teacher = TeacherKind::frozen;
  w.costs.stages[0].activation_memory = 0.0;
  w.costs.stages[0].teacher_output_memory = 1.0;
  auto schedule = parse_text(
      "d0: FT:0.0.0.0 FS:0.0.0.0 LOSS:0 FT:0.0.0.1 FS:0.0.0.1 LOSS:0.1 BS:0.0.0.0 BS:0.0.0.1 OPT:0.0 "
      "FT:0.1.0.0 FT:0.1.0.1 FS:0.1.0.0 FS:0.1.0.1 LOSS:1 LOSS:1.1 BS:0.1.0.0 BS:0.1.0.1 OPT:0.1\n");
  REQUIRE(schedule.ok());
  REQUIRE(validate(schedule.value(), w).empty());
  const auto r = sim::simulate(schedule.value(), w).value();
  CHECK(r.peak_teacher_outputs[0] == 2);
  CHECK(r.peak_activation_memory[0] == doctest::Approx(1.0));
}

TEST_CASE("fill refuses what it cannot fill, naming why") {
  const Workload student = student_workload(2, 2, 2);
  Workload target = student;
  CHECK(planning::fill_teacher(one_f_one_b(student), target).message().find("no teacher") != std::string::npos);
  target.teacher = TeacherKind::frozen;
  Schedule broken = one_f_one_b(student);
  std::swap(broken.devices[1][0], broken.devices[1][2]);  // a backward before its forward
  CHECK(planning::fill_teacher(broken, target).message().find("the student schedule is invalid") != std::string::npos);
  target.teacher = TeacherKind::momentum;
  target.staleness = 1;
  target.teacher_versions = 1;
  CHECK(planning::fill_teacher(one_f_one_b(student), target).message().find("teacher buffers") != std::string::npos);
}

TEST_CASE("several stages per rank: interleaved and V-shaped CSVs import as virtual stages") {
  // Megatron's interleaved 1F1B at S = 2, v = 2, M = 4, written out by hand from its definition:
  // forward k runs chunk (k / S) mod v of micro-batch (k / (S·v))·S + k mod S, backward k the
  // chunks in reverse; rank d warms up with 2(S − 1 − d) + (v − 1)·S forwards, then alternates.
  auto interleaved = import_torch_csv(parse_torch_csv(fixture("torch_interleaved_s2_v2_m4.csv")).value(), 3);
  REQUIRE_MESSAGE(interleaved.ok(), interleaved.message());
  const Workload& wi = interleaved.value().workload;
  CHECK(wi.stages == 2);
  CHECK(wi.chunks == 2);
  CHECK(wi.chunk_placement == ChunkPlacement::interleaved);
  CHECK(wi.micro_batches == 4);
  CHECK(validate(interleaved.value().schedule, wi).empty());
  // Rank 0's stages 0 and 2 each step their optimizer at the end of the step.
  const auto& d0 = interleaved.value().schedule.devices[0];
  CHECK(d0[16] == optimizer_step(0, 0));
  CHECK(d0[17] == optimizer_step(2, 0));
  // Written back in PyTorch's form and read again, it is the same schedule.
  auto written = to_torch_csv(interleaved.value().schedule, wi);
  REQUIRE_MESSAGE(written.ok(), written.message());
  auto again = import_torch_csv(parse_torch_csv(written.value()).value(), 3);
  REQUIRE(again.ok());
  CHECK(again.value().schedule == interleaved.value().schedule);

  // A ZBV-style V at S = 2, M = 2 (rank 0 holds stages 0 and 3, the loss's), timed by hand at unit
  // costs: a chunk's F, I and W each cost 1/2 · 1/2 = 0.25 per micro-batch.
  //   rank 0: 0F0 [0,.25) 0F1 [.25,.5) 3F0 [.75,1) 3I0 [1,1.25) 3F1 [1.25,1.5) 3I1 [1.5,1.75) 3W0 3W1 [1.75,2.25)
  //           0I0 [2.25,2.5) 0I1 [2.5,2.75) 0W0 0W1 [2.75,3.25)
  //   rank 1: 1F0 [.25,.5) 2F0 [.5,.75) 1F1 [.75,1) 2F1 [1,1.25) 2I0 [1.25,1.5) 1I0 [1.5,1.75) 2I1 [1.75,2) 1I1 [2,2.25)
  //           2W0 1W0 2W1 1W1 [2.25,3.25)
  auto zbv = import_torch_csv(parse_torch_csv(fixture("torch_zbv_s2_m2.csv")).value(), 1);
  REQUIRE_MESSAGE(zbv.ok(), zbv.message());
  const Workload& wv = zbv.value().workload;
  CHECK(wv.chunks == 2);
  CHECK(wv.chunk_placement == ChunkPlacement::v_shape);
  CHECK(wv.split == BackwardSplit::input_weight);
  CHECK(wv.loss_device() == 0);
  CHECK(validate(zbv.value().schedule, wv).empty());
  auto r = sim::simulate(zbv.value().schedule, wv);
  REQUIRE(r.ok());
  CHECK(r.value().makespan == doctest::Approx(3.25));
  CHECK(r.value().timeline[0][2].start == doctest::Approx(0.75));  // 3F0 waits for 2F0 on rank 1
  CHECK(r.value().timeline[0][10].start == doctest::Approx(2.25));  // 0I0 (after two LOSS)

  // Broken ones: a chunk before the one feeding it, a weight gradient before its input gradient.
  auto broken = import_torch_csv(parse_torch_csv(fixture("torch_interleaved_broken.csv")).value(), 1);
  REQUIRE(broken.ok());
  CHECK(mentions(validate(broken.value().schedule, broken.value().workload), Rule::deadlock,
                 "FS:2.0.0.0 waits forever for FS:1.0.0.0"));
  auto broken_v = import_torch_csv(parse_torch_csv(fixture("torch_zbv_broken.csv")).value(), 1);
  REQUIRE(broken_v.ok());
  CHECK(mentions(validate(broken_v.value().schedule, broken_v.value().workload), Rule::data_order,
                 "BW:3.0.0.0 comes before BI:3.0.0.0"));

  // fill: the teacher goes into both, every device keeping its student order.
  for (const TorchImport* in : {&interleaved.value(), &zbv.value()}) {
    Workload target = in->workload;
    target.teacher = TeacherKind::frozen;
    auto filled = planning::fill_teacher(in->schedule, target);
    REQUIRE_MESSAGE(filled.ok(), filled.message());
    CHECK(validate(filled.value().filled.schedule, target).empty());
    for (std::size_t j = 0; j < in->schedule.devices.size(); ++j) {
      std::vector<Action> student;
      for (const Action& a : filled.value().filled.schedule.devices[j])
        if (a.kind != ActionKind::TeacherForward) student.push_back(a);
      CHECK(student == in->schedule.devices[j]);
    }
  }
}
