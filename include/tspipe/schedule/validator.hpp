#pragma once
// The validator of docs/design.md §2. It returns every violation (device, position, rule, message) and
// never throws: a schedule is checked before anything runs it.
#include <tspipe/schedule/replay.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tspipe::schedule {

enum class Rule {
  workload,    ///< the workload itself is invalid
  unexpected,  ///< an action the workload does not have (out-of-range field, wrong kind)
  placement,   ///< an action on a device other than its stage's
  duplicate,   ///< the same action twice
  missing,     ///< an expected action that never appears
  data_order,  ///< on one device, a consumer placed before what it consumes
  version,     ///< parameter-version rule broken (FS before the previous OPT; FT before the EMA
               ///< it needs, or after the EMA that overwrites what it reads)
  deadlock,    ///< running each device's list strictly in order cannot finish
};

constexpr std::string_view to_string(Rule rule) {
  switch (rule) {
    case Rule::workload: return "workload";
    case Rule::unexpected: return "unexpected";
    case Rule::placement: return "placement";
    case Rule::duplicate: return "duplicate";
    case Rule::missing: return "missing";
    case Rule::data_order: return "data-order";
    case Rule::version: return "version";
    case Rule::deadlock: return "deadlock";
  }
  return "?";
}

struct Violation {
  Rule rule;
  int device;    ///< −1 when the violation has no device (workload)
  int position;  ///< −1 when the action is absent
  std::string message;
};

inline std::string to_string(const Violation& v) {
  std::string out(to_string(v.rule));
  if (v.device >= 0) out += " d" + std::to_string(v.device);
  if (v.position >= 0) out += " @" + std::to_string(v.position);
  return out + ": " + v.message;
}

/// Checks `schedule` against `workload`. Per rule at most `limit_per_rule` violations are listed,
/// followed by a line counting the rest, so a badly broken schedule gives a readable report.
inline std::vector<Violation> validate(const Schedule& schedule, const Workload& workload,
                                       std::size_t limit_per_rule = 50) {
  std::vector<Violation> out;
  if (Status ok = workload.check(); !ok) {
    out.push_back({Rule::workload, -1, -1, ok.message()});
    return out;
  }
  std::size_t counts[8] = {};
  const auto report = [&](Rule rule, int device, int position, std::string message) {
    if (counts[static_cast<int>(rule)]++ < limit_per_rule) out.push_back({rule, device, position, std::move(message)});
  };
  if (static_cast<int>(schedule.devices.size()) != workload.stages)
    report(Rule::placement, -1, -1,
           "schedule has " + std::to_string(schedule.devices.size()) + " devices, the workload " +
               std::to_string(workload.stages) + " stages");

  const ActionIndex index(workload);
  const Placement placement(schedule, index);

  // Membership: unexpected, placement, duplicate.
  for (std::size_t j = 0; j < schedule.devices.size(); ++j) {
    for (std::size_t p = 0; p < schedule.devices[j].size(); ++p) {
      const Action& a = schedule.devices[j][p];
      const int d = static_cast<int>(j), pos = static_cast<int>(p);
      if (std::string why = index.why_unexpected(a); !why.empty()) {
        report(Rule::unexpected, d, pos, to_token(a) + ": " + why);
        continue;
      }
      const std::size_t i = index.index_unchecked(a);
      if (placement.dense[j][p] == kAbsent) {
        report(Rule::duplicate, d, pos,
               to_token(a) + " already appears on d" + std::to_string(placement.device[i]) + " @" +
                   std::to_string(placement.position[i]));
        continue;
      }
      if (device_of(workload, a) != d)
        report(Rule::placement, d, pos,
               to_token(a) + " belongs on d" + std::to_string(device_of(workload, a)));
    }
  }
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (placement.present(i)) continue;
    const Action a = index.action_at(i);
    report(Rule::missing, device_of(workload, a), -1, to_token(a) + " never appears");
  }

  // Same-device order: a consumer placed before its producer (across devices, order is enforced
  // by waiting, and a bad cross-device order shows up as a deadlock below).
  for (std::size_t i = 0; i < index.size(); ++i) {
    if (!placement.present(i)) continue;
    const Action a = index.action_at(i);
    const int d = placement.device[i], pos = placement.position[i];
    for_each_dependency(workload, a, [&](const Action& producer, DependencyKind kind) {
      const auto pi = index.find(producer);
      if (!pi || !placement.present(*pi) || placement.device[*pi] != d) return true;
      if (placement.position[*pi] < pos) return true;
      const std::string where = " (@" + std::to_string(placement.position[*pi]) + ")";
      switch (kind) {
        case DependencyKind::data:
          report(Rule::data_order, d, pos, to_token(a) + " comes before " + to_token(producer) + where + ", whose result it needs");
          break;
        case DependencyKind::version:
          report(Rule::version, d, pos, to_token(a) + " comes before " + to_token(producer) + where + ", which writes the parameters it reads");
          break;
        case DependencyKind::overwrite:
          report(Rule::version, d, placement.position[*pi],
                 to_token(producer) + " reads the teacher version that " + to_token(a) + " (@" + std::to_string(pos) + ") overwrites before it");
          break;
      }
      return true;
    });
  }

  // Deadlock: replay with zero costs; whatever cannot finish is stuck.
  const ReplayOutcome outcome = replay(
      schedule, index, placement, [](int, int, const Action&, std::size_t, double) { return 0.0; },
      [](const Action&, const Action&, double finish) { return finish; });
  for (const StuckDevice& stuck : outcome.stuck) {
    const Action& at = schedule.devices[static_cast<std::size_t>(stuck.device)][static_cast<std::size_t>(stuck.position)];
    const auto producer = index.find(stuck.waiting_for);
    std::string on;
    if (producer && placement.present(*producer))
      on = " (d" + std::to_string(placement.device[*producer]) + " @" + std::to_string(placement.position[*producer]) + ")";
    report(Rule::deadlock, stuck.device, stuck.position,
           to_token(at) + " waits forever for " + to_token(stuck.waiting_for) + on);
  }

  for (int rule = 0; rule < 8; ++rule)
    if (counts[rule] > limit_per_rule)
      out.push_back({static_cast<Rule>(rule), -1, -1,
                     "… and " + std::to_string(counts[rule] - limit_per_rule) + " more " +
                         std::string(to_string(static_cast<Rule>(rule))) + " violations"});
  return out;
}

}  // namespace tspipe::schedule
