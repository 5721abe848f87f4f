#pragma once
// How the teacher is updated (docs/design.md §1): frozen (KD), or a momentum teacher
// ξ_{b+1} = τ_b·ξ_b + (1−τ_b)·θ_{b+1} read with staleness δ after K warm-up batches.
#include <tspipe/error.hpp>
#include <tspipe/schedule/workload.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace tspipe::update {

/// τ over training steps: constant, or cosine from τ₀ up to 1 at `total_steps` (BYOL, MoCo-v3).
struct TauSchedule {
  enum class Shape { constant, cosine_to_one };
  Shape shape = Shape::constant;
  double tau0 = 0.996;
  long total_steps = 1;

  double at(long step) const {
    if (shape == Shape::constant) return tau0;
    const double progress = std::clamp(static_cast<double>(step) / static_cast<double>(total_steps), 0.0, 1.0);
    return 1.0 - (1.0 - tau0) * (std::cos(std::numbers::pi * progress) + 1.0) / 2.0;
  }
};

/// What BatchNorm running statistics of a momentum teacher do at EMA (parameters always average).
enum class TeacherBuffers { keep, copy_from_student, average };

struct TeacherPolicy {
  schedule::TeacherKind kind = schedule::TeacherKind::frozen;
  int staleness = 0;  ///< δ: 0 = exact, 1 = TSPipe's delayed update
  int warmup = 0;     ///< K: batches b < K read ξ_b
  TauSchedule tau;
  TeacherBuffers buffers = TeacherBuffers::keep;

  static TeacherPolicy frozen() { return {}; }
  static TeacherPolicy momentum(double tau0, int staleness = 1, int warmup = 0) {
    TeacherPolicy p;
    p.kind = schedule::TeacherKind::momentum;
    p.staleness = staleness;
    p.warmup = warmup;
    p.tau.tau0 = tau0;
    return p;
  }
  bool is_momentum() const { return kind == schedule::TeacherKind::momentum; }

  /// The teacher version batch b reads (global batch numbers).
  long version_read(long batch) const {
    if (!is_momentum()) return 0;
    if (batch < warmup) return batch;
    return std::max(0L, batch - staleness);
  }

  Status check() const {
    if (staleness < 0) return Status::failure("teacher policy: staleness δ = " + std::to_string(staleness) + " must be ≥ 0");
    if (warmup < 0) return Status::failure("teacher policy: warm-up K = " + std::to_string(warmup) + " must be ≥ 0");
    if (!(tau.tau0 >= 0.0 && tau.tau0 <= 1.0))
      return Status::failure("teacher policy: τ = " + std::to_string(tau.tau0) + " must lie in [0, 1]");
    if (tau.shape == TauSchedule::Shape::cosine_to_one && tau.total_steps < 1)
      return Status::failure("teacher policy: the cosine τ schedule needs total_steps ≥ 1, got " + std::to_string(tau.total_steps));
    if (!is_momentum() && staleness != 0)
      return Status::failure("teacher policy: a frozen teacher has one version; staleness must be 0, got " + std::to_string(staleness));
    return {};
  }
};

}  // namespace tspipe::update
