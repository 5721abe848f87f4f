#pragma once
// Balanced partitioning of teacher and student (docs/design.md §3).
// Each stage gets a contiguous run of teacher blocks and a contiguous run of student blocks; the
// cuts minimise the slowest stage's time (teacher forward + student forward + student backward)
// under a per-device memory cap. Teacher and student are cut separately (a KD teacher may be a
// different network), except for a momentum teacher, whose parameters are averaged with the
// student's of the same name and must therefore sit on the same stage: it shares the cuts.
#include <tspipe/error.hpp>

#include <algorithm>
#include <chrono>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

namespace tspipe::partition {

/// Profiled cost of one block on one micro-batch (seconds), and its memory (bytes).
struct BlockCost {
  double infer = 0.0;     ///< teacher path (no saved activations)
  double forward = 0.0;   ///< student forward (saves for backward)
  double backward = 0.0;  ///< student backward
  double parameter_bytes = 0.0;
  double activation_bytes = 0.0;  ///< what forward saves for backward, per micro-batch
};

/// Stage s holds teacher blocks [teacher_bounds[s], teacher_bounds[s+1]) and likewise the student.
struct PartitionPlan {
  std::vector<int> teacher_bounds;
  std::vector<int> student_bounds;
  std::vector<double> predicted_stage_time;  ///< teacher infer + student forward + backward
  std::vector<double> stage_memory;          ///< estimated bytes per stage
  double bottleneck = 0.0;
  int stages() const { return static_cast<int>(teacher_bounds.size()) - 1; }
};

struct PartitionRequest {
  int stages = 1;
  int micro_batches_in_flight = 1;  ///< activations a stage holds at once (M·V for a flush schedule)
  int teacher_versions = 1;         ///< teacher parameter copies a stage holds
  double memory_cap_bytes = 0.0;    ///< 0 = no cap
  bool shared_cuts = false;         ///< momentum teacher: teacher cuts = student cuts
};

namespace detail {
inline std::vector<double> prefix(const std::vector<BlockCost>& blocks, double BlockCost::*field) {
  std::vector<double> out(blocks.size() + 1, 0.0);
  for (std::size_t i = 0; i < blocks.size(); ++i) out[i + 1] = out[i] + blocks[i].*field;
  return out;
}
}  // namespace detail

/// Turns explicit cut points (the first block of stages 1…S−1) into bounds, checking them.
inline Result<std::vector<int>> bounds_from_cuts(const std::vector<int>& cuts, int blocks, int stages,
                                                 const std::string& which) {
  using R = Result<std::vector<int>>;
  if (blocks < stages)
    return R::failure(which + " partition: " + std::to_string(stages) + " stages need at least as many blocks, the " +
                      which + " has " + std::to_string(blocks));
  if (static_cast<int>(cuts.size()) != stages - 1)
    return R::failure(which + " partition: " + std::to_string(stages) + " stages need " + std::to_string(stages - 1) +
                      " cut points, got " + std::to_string(cuts.size()));
  std::vector<int> bounds{0};
  for (int cut : cuts) {
    if (cut <= bounds.back() || cut >= blocks)
      return R::failure(which + " partition: cut " + std::to_string(cut) + " must lie in (" + std::to_string(bounds.back()) +
                        ", " + std::to_string(blocks) + ") so every stage keeps at least one block");
    bounds.push_back(cut);
  }
  bounds.push_back(blocks);
  return bounds;
}

/// Fills in the predicted time and memory of a plan whose bounds are set.
inline void evaluate_plan(PartitionPlan& plan, const std::vector<BlockCost>& teacher, const std::vector<BlockCost>& student,
                          const PartitionRequest& request) {
  const auto t_infer = detail::prefix(teacher, &BlockCost::infer);
  const auto t_params = detail::prefix(teacher, &BlockCost::parameter_bytes);
  const auto s_fwd = detail::prefix(student, &BlockCost::forward);
  const auto s_bwd = detail::prefix(student, &BlockCost::backward);
  const auto s_params = detail::prefix(student, &BlockCost::parameter_bytes);
  const auto s_act = detail::prefix(student, &BlockCost::activation_bytes);
  plan.predicted_stage_time.assign(static_cast<std::size_t>(plan.stages()), 0.0);
  plan.stage_memory.assign(static_cast<std::size_t>(plan.stages()), 0.0);
  plan.bottleneck = 0.0;
  for (std::size_t s = 0; s < plan.predicted_stage_time.size(); ++s) {
    const auto ta = static_cast<std::size_t>(plan.teacher_bounds[s]), tb = static_cast<std::size_t>(plan.teacher_bounds[s + 1]);
    const auto sa = static_cast<std::size_t>(plan.student_bounds[s]), sb = static_cast<std::size_t>(plan.student_bounds[s + 1]);
    plan.predicted_stage_time[s] = (t_infer[tb] - t_infer[ta]) + (s_fwd[sb] - s_fwd[sa]) + (s_bwd[sb] - s_bwd[sa]);
    // Student: value + gradient + up to two optimizer state vectors; teacher: its versions.
    plan.stage_memory[s] = 4.0 * (s_params[sb] - s_params[sa]) + request.teacher_versions * (t_params[tb] - t_params[ta]) +
                           request.micro_batches_in_flight * (s_act[sb] - s_act[sa]);
    plan.bottleneck = std::max(plan.bottleneck, plan.predicted_stage_time[s]);
  }
}

/// The cuts that minimise the slowest stage, by dynamic programming over (stage, teacher cut,
/// student cut); O(S·T²·N²) for T teacher and N student blocks — milliseconds for real models.
inline Result<PartitionPlan> balance(const std::vector<BlockCost>& teacher, const std::vector<BlockCost>& student,
                                     const PartitionRequest& request) {
  using R = Result<PartitionPlan>;
  const int S = request.stages, T = static_cast<int>(teacher.size()), N = static_cast<int>(student.size());
  if (S < 1) return R::failure("partition: stages = " + std::to_string(S) + " must be at least 1");
  if (T < S) return R::failure("partition: " + std::to_string(S) + " stages but the teacher has only " + std::to_string(T) + " blocks");
  if (N < S) return R::failure("partition: " + std::to_string(S) + " stages but the student has only " + std::to_string(N) + " blocks");
  if (request.shared_cuts && N < T)
    return R::failure("partition: a momentum teacher pairs its " + std::to_string(T) + " blocks with the student's, which has only " +
                      std::to_string(N));
  const auto t_infer = detail::prefix(teacher, &BlockCost::infer);
  const auto t_params = detail::prefix(teacher, &BlockCost::parameter_bytes);
  const auto s_work = [&] {
    std::vector<double> out(student.size() + 1, 0.0);
    for (std::size_t i = 0; i < student.size(); ++i) out[i + 1] = out[i] + student[i].forward + student[i].backward;
    return out;
  }();
  const auto s_params = detail::prefix(student, &BlockCost::parameter_bytes);
  const auto s_act = detail::prefix(student, &BlockCost::activation_bytes);
  const auto stage_cost = [&](int ta, int tb, int sa, int sb) {
    return (t_infer[static_cast<std::size_t>(tb)] - t_infer[static_cast<std::size_t>(ta)]) +
           (s_work[static_cast<std::size_t>(sb)] - s_work[static_cast<std::size_t>(sa)]);
  };
  const auto fits = [&](int ta, int tb, int sa, int sb) {
    if (request.memory_cap_bytes <= 0.0) return true;
    const double bytes = 4.0 * (s_params[static_cast<std::size_t>(sb)] - s_params[static_cast<std::size_t>(sa)]) +
                         request.teacher_versions * (t_params[static_cast<std::size_t>(tb)] - t_params[static_cast<std::size_t>(ta)]) +
                         request.micro_batches_in_flight * (s_act[static_cast<std::size_t>(sb)] - s_act[static_cast<std::size_t>(sa)]);
    return bytes <= request.memory_cap_bytes;
  };

  constexpr double kInf = std::numeric_limits<double>::infinity();
  // best[s][t][n]: the least bottleneck of stages 0…s−1 covering t teacher and n student blocks.
  const auto at = [&](int s, int t, int n) {
    return (static_cast<std::size_t>(s) * static_cast<std::size_t>(T + 1) + static_cast<std::size_t>(t)) *
               static_cast<std::size_t>(N + 1) + static_cast<std::size_t>(n);
  };
  std::vector<double> best(static_cast<std::size_t>(S + 1) * static_cast<std::size_t>(T + 1) * static_cast<std::size_t>(N + 1), kInf);
  std::vector<std::pair<int, int>> from(best.size(), {-1, -1});
  best[at(0, 0, 0)] = 0.0;
  for (int s = 1; s <= S; ++s) {
    const bool last = s == S;
    for (int t = s; t <= T - (S - s); ++t) {
      for (int n = s; n <= N - (S - s); ++n) {
        if (last && (t != T || n != N)) continue;
        // Shared cuts: the student's cut equals the teacher's, except that the last stage also
        // takes the student's extra blocks (a predictor head).
        if (request.shared_cuts && !last && n != t) continue;
        double& cell = best[at(s, t, n)];
        for (int tp = s - 1; tp < t; ++tp) {
          for (int np = s - 1; np < n; ++np) {
            if (request.shared_cuts && np != tp) continue;
            const double prev = best[at(s - 1, tp, np)];
            if (prev >= cell || !fits(tp, t, np, n)) continue;
            const double value = std::max(prev, stage_cost(tp, t, np, n));
            if (value < cell) {
              cell = value;
              from[at(s, t, n)] = {tp, np};
            }
          }
        }
      }
    }
  }
  if (best[at(S, T, N)] == kInf)
    return R::failure("partition: no split into " + std::to_string(S) + " stages fits the memory cap of " +
                      std::to_string(request.memory_cap_bytes / 1e6) + " MB per device");
  PartitionPlan plan;
  plan.teacher_bounds.assign(static_cast<std::size_t>(S + 1), 0);
  plan.student_bounds.assign(static_cast<std::size_t>(S + 1), 0);
  int t = T, n = N;
  for (int s = S; s >= 1; --s) {
    plan.teacher_bounds[static_cast<std::size_t>(s)] = t;
    plan.student_bounds[static_cast<std::size_t>(s)] = n;
    std::tie(t, n) = from[at(s, t, n)];
  }
  evaluate_plan(plan, teacher, student, request);
  return plan;
}

}  // namespace tspipe::partition
