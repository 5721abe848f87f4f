#pragma once
// How two hyper-parameters anneal over training, per optimizer step: the learning rate (linear
// warm-up, then cosine decay) and the momentum teacher's τ (constant, or cosine from τ₀ up to 1 as
// in BYOL and MoCo-v3). A step k is the index of the optimizer step (batch) the value is used
// for, starting at 0.
#include <tspipe/error.hpp>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace tspipe::nn {

/// Learning rate rising linearly over `warmup_steps` and then following a half cosine from
/// base_lr down to final_lr at `total_steps`; final_lr from then on.
///   k < W:      base·(k+1)/W        (step 0 already moves; step W−1 reaches base)
///   W ≤ k ≤ K:  final + (base − final)·(1 + cos(π·(k−W)/(K−W)))/2
///   k > K:      final
class WarmupCosineLR {
 public:
  WarmupCosineLR(double base_lr, long warmup_steps, long total_steps, double final_lr = 0.0)
      : base_lr_(base_lr), final_lr_(final_lr), warmup_steps_(warmup_steps), total_steps_(total_steps) {
    if (!(base_lr >= 0.0) || !std::isfinite(base_lr) || !(final_lr >= 0.0) || !std::isfinite(final_lr))
      throw Error("learning-rate schedule: rates must be finite and ≥ 0, got base " +
                  std::to_string(base_lr) + ", final " + std::to_string(final_lr));
    if (warmup_steps < 0 || total_steps < 1 || warmup_steps > total_steps)
      throw Error("learning-rate schedule: need 0 ≤ warm-up steps ≤ total steps and total ≥ 1, got " +
                  std::to_string(warmup_steps) + " warm-up of " + std::to_string(total_steps));
  }

  double at(long step) const {
    step = std::max(step, 0L);
    if (step < warmup_steps_)
      return base_lr_ * static_cast<double>(step + 1) / static_cast<double>(warmup_steps_);
    if (step >= total_steps_ || total_steps_ == warmup_steps_) return final_lr_;
    const double progress = static_cast<double>(step - warmup_steps_) /
                            static_cast<double>(total_steps_ - warmup_steps_);
    return final_lr_ + (base_lr_ - final_lr_) * (1.0 + std::cos(std::numbers::pi * progress)) / 2.0;
  }

 private:
  double base_lr_;
  double final_lr_;
  long warmup_steps_;
  long total_steps_;
};

namespace detail {
inline void require_tau(const char* schedule, double tau) {
  if (!(tau >= 0.0 && tau <= 1.0))
    throw Error(std::string(schedule) + ": τ must be in [0, 1], got " + std::to_string(tau));
}
}  // namespace detail

/// τ_k = τ₀ for every step.
class ConstantMomentum {
 public:
  explicit ConstantMomentum(double tau) : tau_(tau) { detail::require_tau("constant τ schedule", tau); }
  double at(long /*step*/) const { return tau_; }

 private:
  double tau_;
};

/// τ_k = 1 − (1 − τ₀)·(cos(π·k/K) + 1)/2: τ₀ at k = 0, 1 at k = K (the teacher freezes as
/// training ends), with k clamped to [0, K].
class CosineMomentum {
 public:
  CosineMomentum(double tau0, long total_steps) : tau0_(tau0), total_steps_(total_steps) {
    detail::require_tau("cosine τ schedule", tau0);
    if (total_steps < 1)
      throw Error("cosine τ schedule: total steps must be ≥ 1, got " + std::to_string(total_steps));
  }
  double at(long step) const {
    const long k = std::clamp(step, 0L, total_steps_);
    const double phase = std::numbers::pi * static_cast<double>(k) / static_cast<double>(total_steps_);
    return 1.0 - (1.0 - tau0_) * (std::cos(phase) + 1.0) / 2.0;
  }

 private:
  double tau0_;
  long total_steps_;
};

}  // namespace tspipe::nn
