#pragma once
// Dynamic loss scaling for fp16 training. fp16's range ends at 65504 and its normal numbers at
// 2⁻¹⁴, so small gradients underflow unless the loss (and with it every gradient) is multiplied
// by a scale before the backward; the optimizer divides it out again. The scale is as large as
// the gradients allow: a step whose scaled gradients hold an inf or NaN is skipped and the scale
// backs off; after `growth_interval` clean steps in a row it grows. These are PyTorch's GradScaler
// rules and defaults (2¹⁶, ×2, ×0.5, 2000 steps), so a run and its PyTorch counterpart skip the same
// steps. bf16 has float's exponent range and needs none of this.
#include <tspipe/error.hpp>

#include <cmath>
#include <cstdint>
#include <span>
#include <string>

namespace tspipe::nn {

struct LossScalerOptions {
  float initial_scale = 65536.0f;
  float growth_factor = 2.0f;
  float backoff_factor = 0.5f;
  int growth_interval = 2000;
};

/// What a checkpoint keeps of a scaler, so that a resumed run skips and grows as the original.
struct LossScalerState {
  float scale = 65536.0f;
  int clean_steps = 0;  ///< clean steps since the last change of scale
  bool operator==(const LossScalerState&) const = default;
};

class DynamicLossScaler {
 public:
  explicit DynamicLossScaler(LossScalerOptions options = {}) : options_(options) {
    const auto fail = [](const std::string& what) { throw Error("DynamicLossScaler: " + what); };
    if (!std::isfinite(options.initial_scale) || options.initial_scale <= 0.0f)
      fail("initial_scale must be finite and > 0, got " + std::to_string(options.initial_scale));
    if (!std::isfinite(options.growth_factor) || options.growth_factor <= 1.0f)
      fail("growth_factor must be finite and > 1, got " + std::to_string(options.growth_factor));
    if (!(options.backoff_factor > 0.0f && options.backoff_factor < 1.0f))
      fail("backoff_factor must be in (0, 1), got " + std::to_string(options.backoff_factor));
    if (options.growth_interval < 1) fail("growth_interval must be >= 1, got " + std::to_string(options.growth_interval));
    state_.scale = options.initial_scale;
  }

  /// The factor the loss is multiplied by before the backward.
  float scale() const { return state_.scale; }

  /// Ends one step: `found_non_finite` says whether any scaled gradient of the step (over every
  /// stage and replica) held an inf or NaN. Returns whether the optimizer applies the step; a
  /// skipped step leaves weights and optimizer state untouched.
  bool update(bool found_non_finite) {
    if (found_non_finite) {
      state_.scale *= options_.backoff_factor;
      state_.clean_steps = 0;
      ++skipped_;
      return false;
    }
    if (++state_.clean_steps == options_.growth_interval) {
      // Growth that would overflow keeps the scale (PyTorch's rule too).
      if (const float grown = state_.scale * options_.growth_factor; std::isfinite(grown)) state_.scale = grown;
      state_.clean_steps = 0;
    }
    return true;
  }

  /// Steps skipped since construction (not saved: a count for the user's log).
  long skipped_steps() const { return skipped_; }

  LossScalerState state() const { return state_; }
  void restore(const LossScalerState& state) {
    if (!std::isfinite(state.scale) || state.scale <= 0.0f || state.clean_steps < 0 ||
        state.clean_steps >= options_.growth_interval)
      throw Error("DynamicLossScaler: cannot restore scale " + std::to_string(state.scale) + " after " +
                  std::to_string(state.clean_steps) + " clean steps (growth_interval " +
                  std::to_string(options_.growth_interval) + ")");
    state_ = state;
  }

 private:
  LossScalerOptions options_;
  LossScalerState state_;
  long skipped_ = 0;
};

/// Whether every value is finite: the check behind `found_non_finite`, on the host.
inline bool all_finite(std::span<const float> values) {
  for (float v : values)
    if (!std::isfinite(v)) return false;
  return true;
}

}  // namespace tspipe::nn
