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
// the gap). Teacher forwards queue by the version they read, then batch, then logical stage (a
// device's chunks in model order), then the order the student forwards their micro-batches there. The plain placement, each teacher forward
// right before the student forward of its micro-batch, is a candidate too, so filling never
// does worse than it; the fastest simulated candidate is kept.
#include <tspipe/planning/device_agenda.hpp>
#include <tspipe/planning/head_inputs.hpp>
#include <tspipe/schedule/device_lists.hpp>
#include <tspipe/schedule/validator.hpp>
#include <tspipe/sim/simulator.hpp>

#include <algorithm>
#include <limits>
#include <optional>
#include <string>
#include <tuple>
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
    // (by logical stage too: a device's earlier chunk feeds the other devices' later ones)
    std::stable_sort(teacher[j].begin(), teacher[j].end(), [&](const schedule::Action& x, const schedule::Action& y) {
      return std::tuple(w.teacher_version_read(x.batch), x.batch, x.stage) < std::tuple(w.teacher_version_read(y.batch), y.batch, y.stage);
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

/// How teacher_in_gaps decides whether a teacher forward may run while the student waits.
struct TeacherGapRule {
  double overrun = 0.0;                ///< how far past the student's input it may run (fraction of its cost)
  bool bound_unplaced_inputs = false;  ///< bound the arrival of student inputs not yet placed
  bool current_batch_first = false;    ///< the student's current batch's teacher before the student
};

/// Teacher forwards in the student's gaps by list scheduling (the header comment's rules). A
/// device running several chunks keeps a queue per chunk, so a teacher forward waiting for
/// another device's chunk does not hold up a ready one of its own first chunk.
inline Result<schedule::Schedule> teacher_in_gaps(const std::vector<std::vector<schedule::Action>>& lists,
                                                  const std::vector<std::vector<schedule::Action>>& teacher,
                                                  const schedule::Workload& w, const TeacherGapRule& rule) {
  using schedule::Action;
  const std::size_t D = lists.size();
  const schedule::ActionIndex index(w);
  std::vector<double> finish(index.size(), -1.0);  // costs are checked, so a finish is never < 0
  // Per device its teacher queues, one per chunk, each in the device's queue order.
  struct TeacherQueue {
    std::vector<Action> actions;
    std::size_t next = 0;
    HeadInputs head;
  };
  std::vector<std::vector<TeacherQueue>> queues(D);
  for (std::size_t j = 0; j < D; ++j)
    for (const Action& ft : teacher[j]) {
      auto& mine = queues[j];
      const auto chunk = static_cast<std::size_t>(ft.stage / w.stages);
      if (mine.size() <= chunk) mine.resize(chunk + 1);
      mine[chunk].actions.push_back(ft);
    }
  // When the inputs of a device's next student action are usable.
  std::vector<HeadInputs> student_heads(D);
  schedule::Schedule out;
  out.generator = "fill";
  out.devices.resize(D);
  std::vector<std::size_t> next(D, 0);
  std::vector<double> now(D, 0.0);
  // The student position whose unplaced inputs were last bounded, and the bound.
  std::vector<std::size_t> bound_position(D, std::numeric_limits<std::size_t>::max());
  std::vector<double> bound_time(D, 0.0);
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
    schedule::for_each_neighbour_device(w, a, [&](int k) { agenda.wake_sleeping(static_cast<std::size_t>(k), now[static_cast<std::size_t>(k)]); });
  };
  const auto queue_order = [&](const Action& x) { return std::tuple(w.teacher_version_read(x.batch), x.batch, x.stage); };
  while (const auto wake_up = agenda.next()) {
    // Plain variables, not a structured binding: the lambdas below capture j, which clang
    // before 16 refuses for a binding.
    const auto j = wake_up->first;
    const auto t = wake_up->second;
    now[j] = std::max(now[j], t);
    const bool student_left = next[j] < lists[j].size();
    const int student_batch = student_left ? lists[j][next[j]].batch : w.batches;
    // Nothing while the next student action waits on an unfinished producer (or none is left).
    const std::optional<double> student_at =
        student_left ? student_heads[j].ready(next[j], lists[j][next[j]], w, index, finish) : std::nullopt;
    // The teacher forward to run now among those whose inputs are here, the first in queue order
    // that `fits`; the earliest later arrival of one goes into `wake`.
    std::optional<double> wake = student_at;
    const auto ready_teacher = [&](auto&& fits) -> TeacherQueue* {
      TeacherQueue* chosen = nullptr;
      for (TeacherQueue& q : queues[j]) {
        if (q.next >= q.actions.size()) continue;
        const Action& ft = q.actions[q.next];
        const bool allowed = w.momentum() || ft.batch <= student_batch + w.teacher_lookahead;
        const std::optional<double> teacher_at = allowed ? q.head.ready(q.next, ft, w, index, finish) : std::nullopt;
        if (teacher_at && *teacher_at > now[j]) wake = wake ? std::min(*wake, *teacher_at) : *teacher_at;
        if (!teacher_at || *teacher_at > now[j] || !fits(ft)) continue;
        if (!chosen || queue_order(ft) < queue_order(chosen->actions[chosen->next])) chosen = &q;
      }
      return chosen;
    };
    // With rule.current_batch_first, the teacher forwards of the batch the student is on (its
    // LOSS waits for them) go before the student's next action.
    if (rule.current_batch_first)
      if (TeacherQueue* urgent = ready_teacher([&](const Action& ft) { return ft.batch <= student_batch; })) {
        run(j, urgent->actions[urgent->next++]);
        continue;
      }
    if (student_at && *student_at <= now[j]) {
      run(j, lists[j][next[j]++]);
      continue;
    }
    // With rule.bound_unplaced_inputs, a student action whose producers are not placed yet cannot
    // start before each of them runs on its own device, from that device's time on: a teacher
    // forward ending after that bound might delay it. The bound is a guess (a producer may itself
    // wait, even for this device's teacher), so the device looks again at the bound and, if the
    // inputs are still not placed then, lets the teacher run.
    std::optional<double> student_bound = student_at;
    const bool bound_expired = bound_position[j] == next[j] && now[j] >= bound_time[j];
    if (rule.bound_unplaced_inputs && student_left && !student_at && !bound_expired) {
      const Action& a = lists[j][next[j]];
      double bound = now[j];
      schedule::for_each_dependency(w, a, [&](const Action& producer, schedule::DependencyKind) {
        const std::size_t p = index.index_unchecked(producer);
        const double done = finish[p] >= 0.0
                                ? finish[p]
                                : std::max(now[static_cast<std::size_t>(schedule::device_of(w, producer))], now[j]) + w.action_cost(producer);
        bound = std::max(bound, sim::detail::arrival(w, producer, a, done));
        return true;
      });
      student_bound = bound;
      bound_position[j] = next[j];
      bound_time[j] = bound;
      wake = wake ? std::min(*wake, bound) : bound;
    }
    if (TeacherQueue* filler = ready_teacher([&](const Action& ft) {
          return !student_bound || now[j] + w.action_cost(ft) * (1.0 - rule.overrun) <= *student_bound;
        })) {
      run(j, filler->actions[filler->next++]);
      continue;
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
  for (const detail::TeacherGapRule& rule : {detail::TeacherGapRule{0.0, false, false}, detail::TeacherGapRule{1.0, false, false},
                                               detail::TeacherGapRule{0.0, true, false}, detail::TeacherGapRule{0.0, true, true},
                                               detail::TeacherGapRule{1.0, false, true}})
    if (Status ok = consider(detail::teacher_in_gaps(lists, teacher, target, rule), true, rule.overrun); !ok)
      return R::failure(ok.message());
  if (Status ok = consider(detail::teacher_before_forwards(lists), false, 0.0); !ok) return R::failure(ok.message());
  best->candidates = candidates;
  best->plain_time_per_batch = plain_time;
  return *best;
}

}  // namespace tspipe::planning
