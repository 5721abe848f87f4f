#pragma once
// `fill`: gives a student-only schedule (any order: 1F1B, zero-bubble, one imported from PyTorch)
// a teacher, keeping every device's student order, so TSPipe's idea (teacher forwards run where
// the student pipeline leaves a device idle) applies to schedules users already have.
//
// The student's list on each device stays as it is, with an EMA right after each OPT for a
// momentum teacher. Teacher forwards are then placed by list scheduling on the cost model: a
// device runs its next student action as soon as its inputs have arrived; while it waits, it runs
// its next teacher forward if that one's inputs are there, the frozen teacher's look-ahead allows
// it and it would finish before the student's input arrives (or, with filler_overrun 1, whatever
// the gap). Teacher forwards queue by the version they read, then batch, then the order the
// student forwards their micro-batches on that device. The plain placement, each teacher forward
// right before the student forward of its micro-batch, is a candidate too, so filling never
// does worse than it; the fastest simulated candidate is kept.
#include <tspipe/planning/device_agenda.hpp>
#include <tspipe/planning/head_inputs.hpp>
#include <tspipe/schedule/device_lists.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/simulator.hpp>

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::planning {

/// What `fill_teacher` made and how.
struct TeacherFill {
  schedule::Generated filled;   ///< the target workload and the filled schedule
  bool in_gaps = true;          ///< teacher forwards placed in the gaps (false: before each FS)
  double filler_overrun = 0.0;  ///< the gap rule that won (see the header comment)
  double time_per_batch = 0.0;        ///< the filled schedule's, simulated on target's costs
  double plain_time_per_batch = 0.0;  ///< with each teacher forward right before its FS
  int candidates = 0;
};

/// The workload a target's student schedule is for: the same, without a teacher.
inline schedule::Workload without_teacher(schedule::Workload w) {
  w.teacher = schedule::TeacherKind::none;
  w.staleness = w.warmup = w.teacher_versions = 0;
  return w;
}

namespace detail {

/// Each device's student list with an EMA after every OPT (momentum teacher), and its teacher
/// forwards in queue order.
inline void fill_lists(const schedule::Schedule& student, const schedule::Workload& w,
                       std::vector<std::vector<schedule::Action>>& lists,
                       std::vector<std::vector<schedule::Action>>& teacher) {
  using schedule::ActionKind;
  lists.assign(student.devices.size(), {});
  teacher.assign(student.devices.size(), {});
  for (std::size_t j = 0; j < student.devices.size(); ++j) {
    for (const schedule::Action& a : student.devices[j]) {
      lists[j].push_back(a);
      if (a.kind == ActionKind::Optimizer && w.momentum()) lists[j].push_back(schedule::ema_update(a.stage, a.batch));
      if (a.kind == ActionKind::StudentForward) teacher[j].push_back(schedule::teacher_forward(a.stage, a.batch, a.view, a.micro_batch));
    }
    std::stable_sort(teacher[j].begin(), teacher[j].end(), [&](const schedule::Action& x, const schedule::Action& y) {
      return std::pair(w.teacher_version_read(x.batch), x.batch) < std::pair(w.teacher_version_read(y.batch), y.batch);
    });
  }
}

/// The plain placement: each teacher forward right before its student forward.
inline schedule::Schedule teacher_before_forwards(const std::vector<std::vector<schedule::Action>>& lists) {
  schedule::Schedule out;
  out.generator = "fill";
  for (const auto& list : lists) {
    out.devices.emplace_back();
    for (const schedule::Action& a : list) {
      if (a.kind == schedule::ActionKind::StudentForward)
        out.devices.back().push_back(schedule::teacher_forward(a.stage, a.batch, a.view, a.micro_batch));
      out.devices.back().push_back(a);
    }
  }
  return out;
}

/// Teacher forwards in the student's gaps by list scheduling (the header comment's rules).
inline Result<schedule::Schedule> teacher_in_gaps(const std::vector<std::vector<schedule::Action>>& lists,
                                                  const std::vector<std::vector<schedule::Action>>& teacher,
                                                  const schedule::Workload& w, double filler_overrun) {
  using schedule::Action;
  const std::size_t D = lists.size();
  const schedule::ActionIndex index(w);
  std::vector<double> finish(index.size(), -1.0);  // costs are checked, so a finish is never < 0
  // When the inputs of a device's next student action (0) or teacher forward (1) are usable.
  std::vector<std::array<HeadInputs, 2>> heads(D);
  schedule::Schedule out;
  out.generator = "fill";
  out.devices.resize(D);
  std::vector<std::size_t> next(D, 0), next_teacher(D, 0);
  std::vector<double> now(D, 0.0);
  std::size_t remaining = 0;
  for (std::size_t j = 0; j < D; ++j) remaining += lists[j].size() + teacher[j].size();
  DeviceAgenda agenda(D);
  const auto run = [&](std::size_t j, const Action& a) {
    now[j] += w.action_cost(a);
    finish[index.index_unchecked(a)] = now[j];
    out.devices[j].push_back(a);
    --remaining;
    agenda.wake_at(j, now[j]);
    // Only neighbouring stages consume across devices, so only they may have waited on it.
    for (std::size_t k : {j - 1, j + 1})
      if (k < D) agenda.wake_sleeping(k, now[k]);
  };
  while (const auto wake_up = agenda.next()) {
    const auto [j, t] = *wake_up;
    now[j] = std::max(now[j], t);
    const bool student_left = next[j] < lists[j].size();
    // Nothing while the next student action waits on an unfinished producer (or none is left).
    const std::optional<double> student_at =
        student_left ? heads[j][0].ready(next[j], lists[j][next[j]], w, index, finish) : std::nullopt;
    if (student_at && *student_at <= now[j]) {
      run(j, lists[j][next[j]++]);
      continue;
    }
    std::optional<double> wake = student_at;
    if (next_teacher[j] < teacher[j].size()) {
      const Action& ft = teacher[j][next_teacher[j]];
      const int student_batch = student_left ? lists[j][next[j]].batch : w.batches;
      const bool allowed = w.momentum() || ft.batch <= student_batch + w.teacher_lookahead;
      const std::optional<double> teacher_at =
          allowed ? heads[j][1].ready(next_teacher[j], ft, w, index, finish) : std::nullopt;
      if (teacher_at && *teacher_at <= now[j] &&
          (!student_at || now[j] + w.action_cost(ft) * (1.0 - filler_overrun) <= *student_at)) {
        run(j, teacher[j][next_teacher[j]++]);
        continue;
      }
      if (teacher_at && *teacher_at > now[j]) wake = wake ? std::min(*wake, *teacher_at) : *teacher_at;
    }
    if (wake) agenda.wake_at(j, *wake);
    else agenda.sleep(j);
  }
  if (remaining != 0)
    return Result<schedule::Schedule>::failure("fill: the teacher forwards found no place (" + std::to_string(remaining) +
                                               " actions left); please report this schedule");
  return out;
}

}  // namespace detail

/// Fills `student`, a valid schedule of without_teacher(target), with the teacher of `target`
/// (its kind, staleness, look-ahead and costs): the fastest of the plain placement and the gap
/// placements, simulated under target's costs. Fails, naming the first violation, when the student
/// schedule is invalid.
inline Result<TeacherFill> fill_teacher(const schedule::Schedule& student, const schedule::Workload& target) {
  using R = Result<TeacherFill>;
  if (Status ok = target.check(); !ok) return R::failure("fill: " + ok.message());
  if (!target.has_teacher()) return R::failure("fill: the target workload has no teacher to fill in");
  // Each batch's teacher must read its version before the batch's own EMA overwrites it.
  if (auto why = schedule::detail::flush_version_problem(target); !why.empty()) return R::failure("fill: " + why);
  const auto violations = schedule::validate(student, without_teacher(target), 1);
  if (!violations.empty())
    return R::failure("fill: the student schedule is invalid: " + schedule::to_string(violations.front()));
  std::vector<std::vector<schedule::Action>> lists, teacher;
  detail::fill_lists(student, target, lists, teacher);

  std::optional<TeacherFill> best;
  int candidates = 0;
  double plain_time = 0.0;
  const auto consider = [&](Result<schedule::Schedule> candidate, bool in_gaps, double overrun) -> Status {
    if (!candidate) return Status::failure(candidate.message());
    ++candidates;
    const auto broken = schedule::validate(candidate.value(), target, 1);
    if (!broken.empty()) return Status::failure("fill: internal error, a candidate is invalid: " + schedule::to_string(broken.front()));
    auto r = sim::simulate(candidate.value(), target);
    if (!r) return Status::failure("fill: internal error: " + r.message());
    const double time = r.value().time_per_batch;
    if (!in_gaps) plain_time = time;
    if (best && time >= best->time_per_batch * (1.0 - 1e-12)) return {};
    best = TeacherFill{{target, std::move(candidate).value()}, in_gaps, overrun, time, 0.0, 0};
    return {};
  };
  for (double overrun : {0.0, 1.0})
    if (Status ok = consider(detail::teacher_in_gaps(lists, teacher, target, overrun), true, overrun); !ok)
      return R::failure(ok.message());
  if (Status ok = consider(detail::teacher_before_forwards(lists), false, 0.0); !ok) return R::failure(ok.message());
  best->candidates = candidates;
  best->plain_time_per_batch = plain_time;
  return *best;
}

}  // namespace tspipe::planning
