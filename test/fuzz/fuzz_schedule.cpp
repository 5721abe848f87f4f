// Fuzz target for the schedule parsers: the text form, the CSV form and cost tables. Bad input
// must come back as a failed Result; an accepted schedule must survive a round trip and the
// validator (which must never throw) on a small workload; an accepted cost table must round-trip
// exactly and generate, validate and simulate to finite times; an accepted PyTorch CSV must
// import or be refused by name, and simulate when it validates. Anything else aborts.
#include <tspipe/planning/generate.hpp>
#include <tspipe/schedule/cost_table.hpp>
#include <tspipe/schedule/schedule.hpp>
#include <tspipe/schedule/torch_csv.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/simulator.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

namespace {

using namespace tspipe::schedule;

void check_schedule(const Schedule& s) {
  // Round trips: what was accepted prints and parses back to the same schedule.
  auto again = parse_text(to_text(s));
  if (!again.ok() || !(again.value() == s)) std::abort();
  // CSV lists actions, so it carries devices up to the last one that has any (documented in
  // schedule.hpp); the round trip is exact for such schedules.
  if (!s.devices.empty() && !s.devices.back().empty()) {
    auto from_csv = parse_csv(to_csv(s));
    if (!from_csv.ok() || !(from_csv.value() == s)) std::abort();
  }
  if (s.devices.empty() || s.devices.size() > 8 || s.num_actions() > 4096) return;
  Workload w = ssl_workload(static_cast<int>(s.devices.size()));
  w.batches = 3;
  try {
    (void)validate(s, w, 8);
  } catch (...) {
    std::abort();  // the validator never throws
  }
}

/// An accepted cost table round-trips exactly and is one Workload::check accepts: generated,
/// validated and simulated on a small workload, its times are finite.
void check_costs(const CostModel& costs) {
  auto again = parse_cost_csv(to_csv(costs));
  if (!again.ok() || again.value().stages.size() != costs.stages.size()) std::abort();
  for (std::size_t s = 0; s < costs.stages.size(); ++s)
    for (const auto& column : detail::kCostColumns)
      if (!(again.value().stages[s].*(column.field) == costs.stages[s].*(column.field))) std::abort();
  if (costs.stages.size() > 6) return;
  Workload w = kd_workload(static_cast<int>(costs.stages.size()));
  w.batches = 3;
  w.costs = costs;
  if (!w.check().ok()) std::abort();
  for (const char* name : {"gpipe", "tspipe"}) {
    auto g = tspipe::planning::generate(name, w);
    if (!g.ok() || !validate(g.value().schedule, g.value().workload, 1).empty()) std::abort();
    auto r = tspipe::sim::simulate(g.value().schedule, g.value().workload);
    if (!r.ok() || !std::isfinite(r.value().makespan) || !std::isfinite(r.value().time_per_batch)) std::abort();
  }
}

/// An accepted PyTorch CSV imports or is refused with a message; an import that validates
/// simulates to finite times.
void check_torch(const TorchCsv& csv) {
  auto imported = import_torch_csv(csv, 2);
  if (!imported.ok()) {
    if (imported.message().empty()) std::abort();
    return;
  }
  const TorchImport& in = imported.value();
  if (in.schedule.num_actions() > 20000) return;
  if (!validate(in.schedule, in.workload, 1).empty()) return;
  auto r = tspipe::sim::simulate(in.schedule, in.workload);
  if (!r.ok() || !std::isfinite(r.value().makespan)) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > (1u << 16)) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto s = parse_text(text); s.ok()) check_schedule(s.value());
  if (auto s = parse_csv(text); s.ok()) check_schedule(s.value());
  if (auto costs = parse_cost_csv(text); costs.ok()) check_costs(costs.value());
  if (auto torch = parse_torch_csv(text); torch.ok()) check_torch(torch.value());
  return 0;
}
