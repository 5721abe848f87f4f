// Schedule benchmark: first the issue-8 table (tspipe choosing M and the split against
// tspipe-paper, gpipe, 1f1b and sequential, with its memory against gpipe's and the targets);
// then every generator with and without virtual stages (v chunks per device) side by side;
// then every generator's utilisation and peak memory side by side at M = S − 1 and 2S (tspipe
// choosing split and order only); then PyTorch-style 1F1B schedules, written to and read from
// its CSV form, filled with a teacher against the original; then tspipe's plans under a memory
// cap only 1F1B-shaped schedules meet; then for S ∈ {4, 8, 16}, SSL and KD, teacher/student cost ratio r ∈ {1, 3},
// every generator's steady-state time per batch, utilisation and speed-up against `sequential`;
// then in-order against dynamic dispatch (simulated) when the real costs differ from those the
// schedule was planned with; then the simulator's own speed and the generate+validate time of a
// 16-stage × 1000-batch schedule. Prints; asserts nothing (targets are read off the output).
#include <tspipe/planning/generate.hpp>
#include <tspipe/planning/teacher_fill.hpp>
#include <tspipe/schedule/torch_csv.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/dynamic.hpp>
#include <tspipe/planning/evaluate.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

using namespace tspipe;
using Clock = std::chrono::steady_clock;

namespace {
double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}
/// Steady-state utilisation and the largest per-device peak activation memory of one schedule.
struct Row {
  double utilisation = 0.0, peak_memory = 0.0;
  schedule::Workload workload;
};
std::optional<Row> measure(std::string_view name, const schedule::Workload& w) {
  auto e = planning::evaluate(name, w);
  if (!e) {
    std::printf("  %s: %s\n", std::string(name).c_str(), e.message().c_str());
    return std::nullopt;
  }
  const auto& peaks = e.value().result.peak_activation_memory;
  return Row{e.value().result.utilisation, *std::max_element(peaks.begin(), peaks.end()), e.value().generated.workload};
}

/// The issue-8 table: for each workload, the utilisation of tspipe (choosing M and the split),
/// tspipe at the workload's M, tspipe-paper, gpipe, 1f1b and sequential; tspipe's M and split;
/// its peak activation memory against gpipe's at the same M and split; and the target.
bool issue8_table() {
  std::printf("%-4s %-4s %-3s | %8s %9s %8s %8s %8s %8s | %4s %-12s | %8s %8s | %6s\n", "S", "wl", "r", "tspipe",
              "tspipe@M", "paper", "gpipe", "1f1b", "seq", "M*", "split*", "peak", "gpipe@M*", "target");
  bool all_met = true;
  struct Case { const char* kind; double ratio, target; std::vector<int> stages; };
  const std::vector<Case> cases = {{"ssl", 1.0, 0.99, {2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
                                   {"kd", 1.0, 0.95, {4, 8, 16}},
                                   {"kd", 3.0, 0.93, {4, 8, 16}}};
  for (const Case& c : cases)
    for (int S : c.stages) {
      const bool ssl = std::string(c.kind) == "ssl";
      schedule::Workload w = ssl ? schedule::ssl_workload(S) : schedule::kd_workload(S);
      w.batches = 12;
      w.costs = schedule::CostModel::teacher_ratio(S, c.ratio);
      schedule::Workload searching = w;
      searching.choose_micro_batches = searching.choose_split = true;
      const auto ours = measure("tspipe", searching);
      const auto at_m = measure("tspipe", w), paper = measure("tspipe-paper", w), gpipe = measure("gpipe", w),
                 one_f_one_b = measure("1f1b", w), sequential = measure("sequential", w);
      if (!ours || !at_m || !paper || !gpipe || !one_f_one_b || !sequential) return false;
      const auto gpipe_same_m = measure("gpipe", ours->workload);
      if (!gpipe_same_m) return false;
      const bool met = ours->utilisation >= c.target && ours->peak_memory <= gpipe_same_m->peak_memory * (1.0 + 1e-9);
      all_met = all_met && met;
      std::printf("%-4d %-4s %-3g | %8.4f %9.4f %8.4f %8.4f %8.4f %8.4f | %4d %-12s | %8.4g %8.4g | %s%.2f\n", S, c.kind,
                  c.ratio, ours->utilisation, at_m->utilisation, paper->utilisation, gpipe->utilisation,
                  one_f_one_b->utilisation, sequential->utilisation, ours->workload.micro_batches,
                  std::string(schedule::to_string(ours->workload.split)).c_str(), ours->peak_memory,
                  gpipe_same_m->peak_memory, met ? ">=" : "MISS ", c.target);
    }
  std::printf("%s\n\n", all_met ? "every target met" : "SOME TARGETS MISSED");
  return all_met;
}

/// tspipe plans M, split and order from the model's costs; the devices then meet other costs.
/// Per workload and mismatch: steady-state time per batch of the static lists run in order and
/// dynamically (both simulated on the real costs), and their ratio.
void dispatch_table() {
  std::printf("dispatch when the real costs differ from the plan (tspipe planned on the model; time per batch on the real costs):\n");
  std::printf("%-4s %-4s %-3s %-38s %10s %10s %9s\n", "S", "wl", "r", "real costs against the model", "in-order", "dynamic",
              "dyn/in-ord");
  struct Mismatch {
    const char* what;
    void (*apply)(schedule::CostModel&);
  };
  const Mismatch mismatches[] = {
      {"as modelled", [](schedule::CostModel&) {}},
      {"teacher forwards 2x", [](schedule::CostModel& c) { for (auto& s : c.stages) s.teacher_forward *= 2; }},
      {"teacher forwards 0.5x", [](schedule::CostModel& c) { for (auto& s : c.stages) s.teacher_forward *= 0.5; }},
      {"last stage's student 2x", [](schedule::CostModel& c) {
         c.stages.back().student_forward *= 2;
         c.stages.back().student_backward *= 2;
       }},
      {"stage 0 all 1.5x", [](schedule::CostModel& c) {
         auto& s = c.stages.front();
         s.teacher_forward *= 1.5;
         s.student_forward *= 1.5;
         s.student_backward *= 1.5;
       }},
      {"transfers 0.25 per batch", [](schedule::CostModel& c) { for (auto& s : c.stages) s.transfer = 0.25; }},
  };
  for (const char* kind : {"ssl", "kd"})
    for (double ratio : {1.0, 3.0})
      for (int S : {4, 8}) {
        if (std::string(kind) == "ssl" && ratio != 1.0) continue;
        schedule::Workload plan = std::string(kind) == "ssl" ? schedule::ssl_workload(S) : schedule::kd_workload(S);
        plan.batches = 12;
        plan.costs = schedule::CostModel::teacher_ratio(S, ratio);
        plan.choose_micro_batches = plan.choose_split = true;
        const auto g = planning::generate("tspipe", plan);
        if (!g) {
          std::printf("  tspipe: %s\n", g.message().c_str());
          continue;
        }
        const auto row = [&](const char* what, const schedule::Workload& real, const sim::ActionCost& cost) {
          const auto in_order = sim::simulate(g.value().schedule, real, cost);
          const auto dynamic = sim::simulate_dynamic(g.value().schedule, real, cost);
          if (!in_order || !dynamic) {
            std::printf("  %s\n", (!in_order ? in_order.message() : dynamic.message()).c_str());
            return;
          }
          const double a = in_order.value().time_per_batch, b = dynamic.value().time_per_batch;
          std::printf("%-4d %-4s %-3g %-38s %10.4g %10.4g %9.3f\n", S, kind, ratio, what, a, b, b / a);
        };
        for (const Mismatch& m : mismatches) {
          schedule::Workload real = g.value().workload;
          m.apply(real.costs);
          row(m.what, real, {});
        }
        // Every action its own random factor in [0.5, 1.5) (the same draw for both dispatches).
        const schedule::Workload& modelled = g.value().workload;
        const schedule::ActionIndex index(modelled);
        for (unsigned seed : {1u, 2u}) {
          std::vector<double> factor(index.size());
          std::mt19937 rng(seed);
          for (double& f : factor) f = std::uniform_real_distribution<double>(0.5, 1.5)(rng);
          const std::string what = "each action x U[0.5, 1.5), seed " + std::to_string(seed);
          row(what.c_str(), modelled,
              [&](const schedule::Action& a) { return modelled.action_cost(a) * factor[index.index_unchecked(a)]; });
        }
      }
  std::printf("\n");
}

/// Every generator side by side at the workload's own M (S − 1, the reference's, and 2S): steady-
/// state utilisation / largest per-device peak activation memory. tspipe chooses the split and
/// the order (choose_split with the reference's halves), never M.
void generators_at_m_table() {
  std::printf("every generator at the workload's M (12 batches, unit costs, teacher r x the student): utilisation / peak\n"
              "activation memory (largest device). tspipe chooses split and order, keeps M; its choice on the right.\n");
  std::printf("%-3s %-4s %-3s %-4s | %-13s %-13s %-13s %-13s %-13s | %s\n", "S", "wl", "r", "M", "sequential", "gpipe",
              "1f1b", "tspipe-paper", "tspipe", "tspipe's split / order");
  for (int S : {4, 8, 16})
    for (const char* kind : {"ssl", "kd"})
      for (double ratio : {1.0, 3.0})
        for (int M : {S - 1, 2 * S}) {
          if (std::string(kind) == "ssl" && ratio != 1.0) continue;
          schedule::Workload w = std::string(kind) == "ssl" ? schedule::ssl_workload(S) : schedule::kd_workload(S);
          w.batches = 12;
          w.micro_batches = M;
          w.costs = schedule::CostModel::teacher_ratio(S, ratio);
          w.choose_split = w.choose_halves = true;
          std::printf("%-3d %-4s %-3g %-4d |", S, kind, ratio, M);
          for (std::string_view name : planning::generator_names()) {
            auto e = planning::evaluate(name, w);
            if (!e) {
              std::printf(" %-13s", "n/a");
              continue;
            }
            const auto& peaks = e.value().result.peak_activation_memory;
            char cell[32];
            std::snprintf(cell, sizeof cell, "%.3f / %.3g", e.value().result.utilisation, *std::max_element(peaks.begin(), peaks.end()));
            std::printf(" %-13s", cell);
          }
          const auto choice = planning::choose_tspipe(w);
          if (choice)
            std::printf(" | %s / %s", std::string(schedule::to_string(choice.value().workload.split)).c_str(),
                        std::string(planning::to_string(choice.value().options.order)).c_str());
          std::printf("\n");
        }
  std::printf("\n");
}

/// PyTorch-style student schedules (1F1B, written out in PyTorch's compute-only CSV and read
/// back, as a user's file would be) filled with a teacher, against the original and against the
/// teacher placed right before each forward; then tspipe on the same workload with a per-micro-
/// batch loss (which weighs the filled 1F1B) and with the whole-batch loss.
void filled_torch_table() {
  std::printf("PyTorch 1F1B (compute-only CSV round trip) filled with a teacher (8 batches, unit costs): time per batch /\n"
              "utilisation / peak activation memory (largest device); 'before FS': each teacher forward right before its\n"
              "student forward; tspipe: the same teacher workload, per-micro-batch and whole-batch loss.\n");
  std::printf("%-3s %-4s %-13s | %-21s | %-21s | %9s | %-21s | %-21s\n", "S", "M", "teacher", "original (student)",
              "filled", "before FS", "tspipe, per-micro-b.", "tspipe, whole batch");
  const auto cell = [](const sim::SimulationResult& r) {
    char text[40];
    const auto& peaks = r.peak_activation_memory;
    std::snprintf(text, sizeof text, "%.4g / %.3f / %.3g", r.time_per_batch, r.utilisation, *std::max_element(peaks.begin(), peaks.end()));
    return std::string(text);
  };
  for (int S : {4, 8, 16})
    for (int M : {S - 1, 2 * S}) {
      schedule::Workload student;
      student.stages = S;
      student.micro_batches = M;
      student.batches = 8;
      student.teacher = schedule::TeacherKind::none;
      student.per_micro_batch_loss = true;
      student.costs = schedule::CostModel::unit(S);
      const auto one_f_one_b = planning::generate("1f1b", student);
      const auto csv = one_f_one_b ? schedule::to_torch_csv(one_f_one_b.value().schedule, student)
                                   : Result<std::string>::failure(one_f_one_b.message());
      const auto read = csv ? schedule::parse_torch_csv(csv.value()) : Result<schedule::TorchCsv>::failure(csv.message());
      const auto imported = read ? schedule::import_torch_csv(read.value(), student.batches)
                                 : Result<schedule::TorchImport>::failure(read.message());
      if (!imported) {
        std::printf("  S=%d M=%d: %s\n", S, M, imported.message().c_str());
        continue;
      }
      const auto original = sim::simulate(imported.value().schedule, student);
      struct Teacher { const char* label; bool momentum; double ratio; };
      for (const Teacher& t : {Teacher{"kd r=1", false, 1.0}, Teacher{"kd r=3", false, 3.0}, Teacher{"ssl r=1", true, 1.0}}) {
        schedule::Workload target = student;
        target.teacher = t.momentum ? schedule::TeacherKind::momentum : schedule::TeacherKind::frozen;
        target.staleness = t.momentum ? 1 : 0;
        target.costs = schedule::CostModel::teacher_ratio(S, t.ratio);
        const auto filled = planning::fill_teacher(imported.value().schedule, target);
        if (!original || !filled) {
          std::printf("  S=%d M=%d %s: %s\n", S, M, t.label, (!original ? original.message() : filled.message()).c_str());
          continue;
        }
        const auto after = sim::simulate(filled.value().filled.schedule, target);
        schedule::Workload whole = target;
        whole.per_micro_batch_loss = false;
        whole.choose_split = whole.choose_halves = true;
        schedule::Workload per_micro = whole;
        per_micro.per_micro_batch_loss = true;
        const auto ours = planning::evaluate("tspipe", per_micro), ours_whole = planning::evaluate("tspipe", whole);
        std::printf("%-3d %-4d %-13s | %-21s | %-21s | %9.4g | %-21s | %-21s\n", S, M, t.label, cell(original.value()).c_str(),
                    after ? cell(after.value()).c_str() : "n/a", filled.value().plain_time_per_batch,
                    ours ? cell(ours.value().result).c_str() : "n/a", ours_whole ? cell(ours_whole.value().result).c_str() : "n/a");
      }
    }
  std::printf("\n");
}

/// Memory-capped plans: under a per-micro-batch loss, with each device capped at what 1F1B holds
/// (S of the M = 2S micro-batches on stage 0, half of gpipe's whole batch), no flush order fits;
/// tspipe plans within the cap. Utilisation and the largest per-device peak, with the order and
/// split it chose, against 1F1B and against tspipe without the cap.
void memory_capped_table() {
  std::printf("memory-capped plans (per-micro-batch loss, M = 2S, 12 batches, unit costs; cap = 1F1B's peak = half of\n"
              "gpipe's): utilisation / peak activation memory (largest device)\n");
  std::printf("%-3s %-4s %-3s %5s | %-13s %-13s | %-13s %-28s | %-13s\n", "S", "wl", "r", "cap", "gpipe", "1f1b",
              "tspipe capped", "its split / order", "tspipe free");
  for (int S : {4, 8, 16})
    for (const char* kind : {"ssl", "kd"})
      for (double ratio : {1.0, 3.0}) {
        if (std::string(kind) == "ssl" && ratio != 1.0) continue;
        schedule::Workload w = std::string(kind) == "ssl" ? schedule::ssl_workload(S) : schedule::kd_workload(S);
        w.batches = 12;
        w.micro_batches = 2 * S;
        w.per_micro_batch_loss = true;
        w.costs = schedule::CostModel::teacher_ratio(S, ratio);
        w.choose_split = w.choose_halves = true;
        const auto row = [](const Result<planning::Evaluation>& e) {
          if (!e) return std::string("n/a");
          const auto& peaks = e.value().result.peak_activation_memory;
          char text[32];
          std::snprintf(text, sizeof text, "%.3f / %.3g", e.value().result.utilisation, *std::max_element(peaks.begin(), peaks.end()));
          return std::string(text);
        };
        const auto gpipe = planning::evaluate("gpipe", w), one_f_one_b = planning::evaluate("1f1b", w);
        const auto free = planning::evaluate("tspipe", w);
        if (!one_f_one_b) continue;
        const auto& peaks = one_f_one_b.value().result.peak_activation_memory;
        w.memory_cap = *std::max_element(peaks.begin(), peaks.end());
        const auto capped = planning::evaluate("tspipe", w);
        const auto choice = planning::choose_tspipe(w);
        std::string chosen = "n/a";
        if (choice)
          chosen = std::string(schedule::to_string(choice.value().workload.split)) + " / " +
                   std::string(planning::to_string(choice.value().options.order));
        std::printf("%-3d %-4s %-3g %5.3g | %-13s %-13s | %-13s %-28s | %-13s\n", S, kind, ratio, w.memory_cap, row(gpipe).c_str(),
                    row(one_f_one_b).c_str(), row(capped).c_str(), chosen.c_str(), row(free).c_str());
      }
  std::printf("\n");
}

/// Virtual stages side by side: for S ∈ {4, 8, 16}, SSL and KD at unit costs with a loss per
/// micro-batch, M = S − 1 and 2S, each generator's utilisation / largest per-device peak
/// activation memory with one chunk per device (tspipe choosing the split) and with virtual
/// stages (interleaved-1f1b at v = 2 and 3, zbv, tspipe choosing v as well); "mem ok" says
/// whether tspipe with virtual stages holds no more than gpipe on every device.
void virtual_stages_table() {
  std::printf("virtual stages (unit costs, per-micro-batch loss, 12 batches): utilisation/peak activation memory\n");
  std::printf("%-3s %-3s %-3s | %-11s %-11s %-11s %-11s %-11s | %-11s %-11s %-11s %-11s %-14s | %s\n", "S", "wl", "M",
              "sequential", "gpipe", "1f1b", "paper", "tspipe v=1", "i1f1b v=2", "i1f1b v=3", "zbv", "tspipe", "tspipe's v",
              "mem ok");
  const auto cell = [](const std::optional<Row>& r) {
    char buffer[32];
    if (!r) return std::string("n/a");
    std::snprintf(buffer, sizeof buffer, "%.4f/%.3g", r->utilisation, r->peak_memory);
    return std::string(buffer);
  };
  const auto quiet = [](std::string_view name, const schedule::Workload& w) -> std::optional<Row> {
    auto e = planning::evaluate(name, w);
    if (!e) return std::nullopt;
    const auto& peaks = e.value().result.peak_activation_memory;
    return Row{e.value().result.utilisation, *std::max_element(peaks.begin(), peaks.end()), e.value().generated.workload};
  };
  for (int S : {4, 8, 16})
    for (const char* kind : {"ssl", "kd"})
      for (int M : {S - 1, 2 * S}) {
        schedule::Workload w = std::string(kind) == "ssl" ? schedule::ssl_workload(S) : schedule::kd_workload(S);
        w.micro_batches = M;
        w.batches = 12;
        w.per_micro_batch_loss = true;
        std::vector<std::optional<Row>> one_chunk;
        for (auto name : planning::generator_names()) {
          schedule::Workload u = w;
          u.choose_split = u.choose_halves = name == "tspipe";
          one_chunk.push_back(quiet(name, u));
        }
        schedule::Workload chunked = w;
        chunked.choose_split = true;
        chunked.chunks = 2;
        const auto two = quiet("interleaved-1f1b", chunked), zbv = quiet("zbv", chunked);
        chunked.chunks = 3;
        const auto three = quiet("interleaved-1f1b", chunked);
        schedule::Workload choosing = w;
        choosing.choose_split = choosing.choose_halves = choosing.choose_chunks = true;
        auto ours = planning::evaluate("tspipe", choosing);
        auto gpipe = planning::evaluate("gpipe", w);
        if (!ours || !gpipe) {
          std::printf("%-3d %-3s %-3d | %s\n", S, kind, M, (!ours ? ours.message() : gpipe.message()).c_str());
          continue;
        }
        bool memory_ok = true;
        const auto& our_peaks = ours.value().result.peak_activation_memory;
        for (std::size_t j = 0; j < our_peaks.size(); ++j)
          memory_ok = memory_ok && our_peaks[j] <= gpipe.value().result.peak_activation_memory[j] * (1.0 + 1e-9);
        const Row our_row{ours.value().result.utilisation, *std::max_element(our_peaks.begin(), our_peaks.end()),
                          ours.value().generated.workload};
        const auto& chosen = ours.value().generated.workload;
        const std::string v = std::to_string(chosen.chunks) +
                              (chosen.chunks > 1 ? " " + std::string(schedule::to_string(chosen.chunk_placement)) : "");
        std::printf("%-3d %-3s %-3d | %-11s %-11s %-11s %-11s %-11s | %-11s %-11s %-11s %-11s %-14s | %s\n", S, kind, M,
                    cell(one_chunk[0]).c_str(), cell(one_chunk[1]).c_str(), cell(one_chunk[2]).c_str(),
                    cell(one_chunk[3]).c_str(), cell(one_chunk[4]).c_str(), cell(two).c_str(), cell(three).c_str(),
                    cell(zbv).c_str(), cell(our_row).c_str(), v.c_str(), memory_ok ? "yes" : "NO");
      }
  std::printf("\n");
}

}  // namespace

int main(int argc, char** argv) {
  const int big_batches = argc > 1 ? std::atoi(argv[1]) : 1000;
  std::printf("steady-state utilisation (12 batches; unit costs, teacher r times the student per stage).\n"
              "tspipe chooses M and the split; tspipe@M and the baselines run the workload's M = S-1\n"
              "(tspipe-paper in halves, the others full). peak: tspipe's largest per-device activation\n"
              "memory; gpipe@M*: gpipe's at tspipe's M and split.\n");
  issue8_table();
  virtual_stages_table();
  generators_at_m_table();
  filled_torch_table();
  memory_capped_table();
  dispatch_table();

  std::printf("every generator and split:\n");
  std::printf("%-4s %-4s %-3s %-13s %-12s %4s %11s %11s %9s\n", "S", "wl", "r", "schedule", "split", "M",
              "time/batch", "utilisation", "vs seq");
  for (int S : {4, 8, 16})
    for (const char* kind : {"ssl", "kd"})
      for (double ratio : {1.0, 3.0}) {
        schedule::Workload w = std::string(kind) == "ssl" ? schedule::ssl_workload(S) : schedule::kd_workload(S);
        w.batches = 12;
        w.costs = schedule::CostModel::teacher_ratio(S, ratio);
        for (auto name : planning::generator_names()) {
          for (auto split : {schedule::BackwardSplit::full, schedule::BackwardSplit::halves}) {
            if (name == "tspipe-paper" && split == schedule::BackwardSplit::full) continue;  // always halves
            if (name == "sequential" && split == schedule::BackwardSplit::halves) continue;
            w.split = split;
            auto e = planning::evaluate(name, w);
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
  // "tspipe --search" also chooses M and the split (searching on a short horizon first).
  // "interleaved-1f1b" runs two chunks per device (virtual stages).
  for (std::string_view label : {"gpipe", "tspipe-paper", "tspipe", "tspipe --search", "interleaved-1f1b"}) {
    const bool search = label == "tspipe --search";
    const std::string name(search ? "tspipe" : label);
    big.choose_micro_batches = big.choose_split = search;
    big.chunks = label == "interleaved-1f1b" ? 2 : 1;
    big.per_micro_batch_loss = label == "interleaved-1f1b";
    auto start = Clock::now();
    auto g = planning::generate(name, big);
    const double generate_s = seconds_since(start);
    if (!g) {
      std::printf("  %s: %s\n", name.c_str(), g.message().c_str());
      return 1;
    }
    start = Clock::now();
    const auto violations = schedule::validate(g.value().schedule, g.value().workload);
    const double validate_s = seconds_since(start);
    const double actions = static_cast<double>(g.value().schedule.num_actions());
    // Simulate several times and keep the median run: the machine is shared and noisy.
    std::vector<double> runs;
    for (int rep = 0; rep < 5; ++rep) {
      start = Clock::now();
      auto r = sim::simulate(g.value().schedule, g.value().workload);
      runs.push_back(seconds_since(start));
      if (!r) {
        std::printf("  %s: %s\n", name.c_str(), r.message().c_str());
        return 1;
      }
    }
    std::sort(runs.begin(), runs.end());
    const double simulate_s = runs[runs.size() / 2];
    std::printf("  %-15s M=%-3d %9.0f actions  generate %.3f s  validate %.3f s (%zu violations)  generate+validate %.3f s"
                "  simulate %.3f s (median of 5) = %.2f M actions/s\n",
                std::string(label).c_str(), g.value().workload.micro_batches, actions, generate_s, validate_s, violations.size(), generate_s + validate_s, simulate_s,
                actions / simulate_s / 1e6);
  }
  return 0;
}
