#pragma once
// The orders the `tspipe` search weighs beside its list-scheduled candidates: every fixed
// generator's (gpipe, 1f1b and the reference's), taken as it is at the candidate's M and split,
// and under a per-micro-batch loss the student's 1F1B with the teacher filled in (teacher_fill.hpp). A
// search that ranks them with its own candidates is never below any of them under the same cost
// model and memory rule (docs/design.md).
//
// Candidates also honour what the workload allows a frozen teacher: its forwards may run at most
// `teacher_lookahead` batches ahead of the student, the rule the list scheduler and dynamic
// dispatch keep (an FT of batch b on stage s follows OPT(s, b − 1 − L) there). The reference's
// order runs the next batch's teacher before the current backward, so it qualifies for L ≥ 1 only.
#include <tspipe/planning/teacher_fill.hpp>
#include <tspipe/planning/virtual_stages.hpp>
#include <tspipe/schedule/generators.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::planning {

/// Where a tspipe candidate's order comes from.
enum class CandidateOrder : std::uint8_t {
  list_scheduled,  ///< the list scheduler's flush pipeline with teacher forwards in the gaps
  gpipe,           ///< schedule::generate_gpipe
  one_f_one_b,     ///< schedule::generate_1f1b
  reference,       ///< schedule::generate_tspipe_paper (the backward halves only)
  filled_1f1b,     ///< the student's 1F1B with the teacher filled into its gaps (per-micro-batch loss)
  interleaved,     ///< generate_interleaved_1f1b (virtual stages)
  v_shape,         ///< generate_zbv (virtual stages)
};

constexpr std::string_view to_string(CandidateOrder order) {
  switch (order) {
    case CandidateOrder::list_scheduled: return "list-scheduled";
    case CandidateOrder::gpipe: return "gpipe";
    case CandidateOrder::one_f_one_b: return "1f1b";
    case CandidateOrder::reference: return "tspipe-paper";
    case CandidateOrder::filled_1f1b: return "1f1b+fill";
    case CandidateOrder::interleaved: return "interleaved-1f1b";
    case CandidateOrder::v_shape: return "zbv";
  }
  return "?";
}

inline constexpr CandidateOrder kFixedOrders[] = {CandidateOrder::gpipe, CandidateOrder::one_f_one_b,
                                                  CandidateOrder::reference, CandidateOrder::filled_1f1b};
/// The orders of virtual stages (a workload with chunks > 1 has only these).
inline constexpr CandidateOrder kVirtualStageOrders[] = {CandidateOrder::interleaved, CandidateOrder::v_shape};

/// The first teacher forward of a frozen teacher that runs further ahead of the student than
/// `w.teacher_lookahead` allows, as "device j: FT:… before OPT:…"; empty when none does (and for
/// any other teacher, whose versions the validator checks).
inline std::string teacher_lookahead_problem(const schedule::Schedule& s, const schedule::Workload& w) {
  if (w.teacher != schedule::TeacherKind::frozen) return {};
  for (std::size_t j = 0; j < s.devices.size(); ++j) {
    int optimised = -1;  // the latest batch whose OPT this device has run
    for (const schedule::Action& a : s.devices[j]) {
      if (a.kind == schedule::ActionKind::Optimizer) optimised = std::max(optimised, a.batch);
      const int needed = a.batch - 1 - w.teacher_lookahead;
      if (a.kind == schedule::ActionKind::TeacherForward && needed > optimised)
        return "device " + std::to_string(j) + ": " + schedule::to_token(a) + " comes before " +
               schedule::to_token(schedule::optimizer_step(a.stage, needed)) + " (look-ahead " +
               std::to_string(w.teacher_lookahead) + ")";
    }
  }
  return {};
}

/// The fixed order's schedule for exactly `w`, or a failure saying why it is no candidate: the
/// generator refuses w, runs it at another M or split, or lets the teacher run further ahead than
/// the look-ahead allows.
inline Result<schedule::Schedule> fixed_order_schedule(CandidateOrder order, const schedule::Workload& w) {
  using R = Result<schedule::Schedule>;
  const auto generated = [&]() -> Result<schedule::Generated> {
    switch (order) {
      case CandidateOrder::gpipe: return schedule::generate_gpipe(w);
      case CandidateOrder::one_f_one_b: return schedule::generate_1f1b(w);
      case CandidateOrder::reference: return schedule::generate_tspipe_paper(w);
      case CandidateOrder::filled_1f1b: {
        if (!w.per_micro_batch_loss) return Status::failure("1f1b+fill: 1F1B needs a per-micro-batch loss");
        auto student = schedule::generate_1f1b(without_teacher(w));
        if (!student) return Status::failure(student.message());
        auto filled = fill_teacher(student.value().schedule, w);
        if (!filled) return Status::failure(filled.message());
        return std::move(filled).value().filled;
      }
      case CandidateOrder::interleaved: return generate_interleaved_1f1b(w);
      case CandidateOrder::v_shape: return generate_zbv(w);
      case CandidateOrder::list_scheduled: break;
    }
    return Status::failure("the list-scheduled order is not a fixed order");
  };
  auto g = generated();
  if (!g) return R::failure(g.message());
  const schedule::Workload& as_run = g.value().workload;
  if (as_run.micro_batches != w.micro_batches || as_run.split != w.split || as_run.chunks != w.chunks ||
      (w.chunks > 1 && as_run.chunk_placement != w.chunk_placement))
    return R::failure(std::string(to_string(order)) + " runs M = " + std::to_string(as_run.micro_batches) + " with the " +
                      std::string(schedule::to_string(as_run.split)) + " split and " + std::to_string(as_run.chunks) +
                      " chunks per device, not the candidate's");
  if (std::string why = teacher_lookahead_problem(g.value().schedule, w); !why.empty())
    return R::failure(std::string(to_string(order)) + ": " + why);
  schedule::Schedule schedule = std::move(g.value().schedule);
  schedule.generator = "tspipe";
  return schedule;
}

}  // namespace tspipe::planning
