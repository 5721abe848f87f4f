#pragma once
// Momentum-teacher update ξ ← τ·ξ + (1−τ)·θ, fused over a contiguous parameter range.
#include <tspipe/kernels/config.hpp>

namespace tspipe::kernels {

/// One element of the teacher update. τ = 1 leaves the teacher exactly as it was; τ = 0 copies
/// the student exactly (both hold bit-for-bit since the unused term is multiplied by 0).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float ema_element(float teacher, float student, float tau) {
  return tau * teacher + (1.0f - tau) * student;
}

/// ξ[i] ← τ·ξ[i] + (1−τ)·θ[i] for i < n.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void ema_update(float* teacher, const float* student, long n,
                                                      float tau) {
  for (long i = 0; i < n; ++i) teacher[i] = ema_element(teacher[i], student[i], tau);
}

}  // namespace tspipe::kernels
