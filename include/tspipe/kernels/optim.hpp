#pragma once
// Per-element optimizer updates shared by the CPU and CUDA backends. Each function updates one
// parameter element and its optimizer state in place; the caller owns the loop (or the grid) and
// everything that is per tensor (bias corrections, LARS norms), which it computes once.
#include <tspipe/kernels/config.hpp>

#include <cmath>

namespace tspipe::kernels {

/// SGD with heavy-ball momentum, optionally Nesterov, with L2 weight decay folded into the
/// gradient (PyTorch's convention, dampening 0):
///   d = g + wd·w;  v ← μ·v + d;  step = Nesterov ? d + μ·v : v;  w ← w − lr·step.
/// With v starting at 0 the first step uses v = d, as PyTorch's buffer initialisation does.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void sgd_update(float& weight, float& velocity, float grad,
                                                      float lr, float momentum,
                                                      float weight_decay, bool nesterov) {
  const float decayed_grad = grad + weight_decay * weight;
  velocity = momentum * velocity + decayed_grad;
  const float direction = nesterov ? decayed_grad + momentum * velocity : velocity;
  weight -= lr * direction;
}

/// 1 − β₁ᵗ and 1 − β₂ᵗ for step t ≥ 1: computed once per step on the host, not per element.
struct AdamBiasCorrection {
  float first_moment;
  float second_moment;
};

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE AdamBiasCorrection adam_bias_correction(float beta1,
                                                                              float beta2,
                                                                              long step) {
  const double t = static_cast<double>(step);
  return {static_cast<float>(1.0 - pow(static_cast<double>(beta1), t)),
          static_cast<float>(1.0 - pow(static_cast<double>(beta2), t))};
}

/// AdamW (decoupled weight decay, Loshchilov & Hutter):
///   w ← w − lr·wd·w;  m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;
///   w ← w − lr·(m / c₁) / (√(v / c₂) + ε),   c = adam_bias_correction(β₁, β₂, t).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void adamw_update(float& weight, float& first_moment,
                                                        float& second_moment, float grad, float lr,
                                                        float beta1, float beta2, float eps,
                                                        float weight_decay,
                                                        AdamBiasCorrection correction) {
  weight -= lr * weight_decay * weight;
  first_moment = beta1 * first_moment + (1.0f - beta1) * grad;
  second_moment = beta2 * second_moment + (1.0f - beta2) * grad * grad;
  const float m_hat = first_moment / correction.first_moment;
  const float v_hat = second_moment / correction.second_moment;
  weight -= lr * m_hat / (sqrtf(v_hat) + eps);
}

/// LARS trust ratio of one parameter tensor, as BYOL's and MoCo-v3's code compute it:
/// η·‖w‖ / ‖g + wd·w‖, the norm of the weight-decayed gradient (the update LARS scales).
/// Tensors excluded from adaptation (biases, norm parameters), and tensors whose weight or update
/// norm is zero (fresh zero-initialised weights, unused parameters without decay), get 1 so that
/// they still move with the plain learning rate instead of freezing or dividing by zero.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float lars_trust_ratio(float weight_norm, float update_norm,
                                                             float eta, bool exclude) {
  if (exclude || weight_norm <= 0.0f || update_norm <= 0.0f) return 1.0f;
  return eta * weight_norm / update_norm;
}

/// LARS element update with momentum on the trust-scaled step; excluded tensors also skip the
/// weight decay (pass exclude = true, and trust 1 from lars_trust_ratio):
///   d = g + wd·w (wd = 0 when excluded);  v ← μ·v + trust·d;  w ← w − lr·v.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void lars_update(float& weight, float& velocity, float grad,
                                                       float lr, float momentum,
                                                       float weight_decay, float trust_ratio,
                                                       bool exclude) {
  const float decayed_grad = exclude ? grad : grad + weight_decay * weight;
  velocity = momentum * velocity + trust_ratio * decayed_grad;
  weight -= lr * velocity;
}

/// (g + wd·w)² of one element, in double: the summand of ‖g + wd·w‖², LARS's update norm.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE double decayed_grad_square(float grad, float weight,
                                                                 float weight_decay) {
  const double d = static_cast<double>(grad) + static_cast<double>(weight_decay) * static_cast<double>(weight);
  return d * d;
}

/// Σ x² of a contiguous range, accumulated in double: the host-side half of a LARS norm (a CUDA
/// backend reduces with Thrust instead and feeds the result to lars_trust_ratio).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE double squared_norm(const float* x, long n) {
  double sum = 0.0;
  for (long i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  return sum;
}

/// ‖g + wd·w‖² of a contiguous range, accumulated in double (host side; CUDA reduces
/// decayed_grad_square with Thrust).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE double decayed_grad_squared_norm(const float* grad, const float* weight,
                                                                       float weight_decay, long n) {
  double sum = 0.0;
  for (long i = 0; i < n; ++i) sum += decayed_grad_square(grad[i], weight[i], weight_decay);
  return sum;
}

}  // namespace tspipe::kernels
