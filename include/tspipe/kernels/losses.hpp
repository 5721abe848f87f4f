#pragma once
// Row math of the losses (cross-entropy, softened KL, cosine / L2-normalisation, squared error),
// shared by the CPU and CUDA backends. A "row" is one sample's n contiguous floats. Every function
// returns that row's loss term and writes its gradient already multiplied by `grad_weight`, the
// factor the caller's reduction gives the row (e.g. 1/N for a batch mean), so no second pass over
// the gradient is needed.
#include <tspipe/kernels/config.hpp>
#include <tspipe/kernels/softmax.hpp>

#include <cmath>

namespace tspipe::kernels {

/// Cross-entropy of softmax(scale·x) against class `label`: −log softmax(scale·x)[label].
/// dx = grad_weight·scale·(softmax(scale·x) − onehot(label)). `dx` doubles as the workspace and
/// must not alias x. `scale` is 1/T for a temperature T (InfoNCE). Precondition: 0 ≤ label < n
/// (checked by the host-side losses, not here).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float cross_entropy_row(const float* x, float* dx, int n,
                                                              int label, float scale,
                                                              float grad_weight) {
  log_softmax_row(x, dx, n, scale);
  const float loss = -dx[label];
  const float g = grad_weight * scale;
  for (int i = 0; i < n; ++i) dx[i] = g * (expf(dx[i]) - (i == label ? 1.0f : 0.0f));
  return loss;
}

/// KL(p_t ‖ p_s) with p_t = softmax(t/T), p_s = softmax(s/T) (Hinton's softened targets):
///   Σ p_t·(log p_t − log p_s).
/// ds = grad_weight·(p_s − p_t)/T; the teacher gets no gradient. `teacher_log_probs` is an n-float
/// workspace; `ds` doubles as the other one. Neither may alias the inputs.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float kl_softened_row(const float* teacher,
                                                            const float* student, float* ds,
                                                            float* teacher_log_probs, int n,
                                                            float temperature,
                                                            float grad_weight) {
  const float inv_t = 1.0f / temperature;
  log_softmax_row(teacher, teacher_log_probs, n, inv_t);
  log_softmax_row(student, ds, n, inv_t);
  float kl = 0.0f;
  const float g = grad_weight * inv_t;
  for (int i = 0; i < n; ++i) {
    const float p_t = expf(teacher_log_probs[i]);
    kl += p_t * (teacher_log_probs[i] - ds[i]);
    ds[i] = g * (expf(ds[i]) - p_t);
  }
  return kl;
}

/// ⟨a, b⟩ over one row.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float dot_row(const float* a, const float* b, int n) {
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

/// y = x / max(‖x‖, eps); returns the divisor. x and y may alias. The eps floor (as in
/// torch.nn.functional.normalize) keeps an all-zero row finite.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float l2_normalize_row(const float* x, float* y, int n,
                                                             float eps = 1e-12f) {
  const float norm_raw = sqrtf(dot_row(x, x, n));
  const float norm = norm_raw > eps ? norm_raw : eps;
  const float inv = 1.0f / norm;
  for (int i = 0; i < n; ++i) y[i] = x[i] * inv;
  return norm;
}

/// Backward of y = x/‖x‖ given y, dy and the divisor from l2_normalize_row:
///   dx = grad_weight·(dy − y·⟨dy, y⟩)/‖x‖.  dx may alias dy.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void l2_normalize_row_backward(const float* y,
                                                                     const float* dy, float* dx,
                                                                     int n, float norm,
                                                                     float grad_weight = 1.0f) {
  const float projection = dot_row(dy, y, n);
  const float g = grad_weight / norm;
  for (int i = 0; i < n; ++i) dx[i] = g * (dy[i] - y[i] * projection);
}

/// cos(a, b) = ⟨a, b⟩ / (‖a‖·‖b‖), each norm floored at eps as in l2_normalize_row, and
/// da = grad_weight·∂cos/∂a = grad_weight·(b̂ − cos·â)/‖a‖. Only a gets a gradient (b is the
/// teacher side in BYOL). `a_unit` and `b_unit` are n-float workspaces; `da` must not alias them.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float cosine_similarity_row(const float* a, const float* b,
                                                                  float* da, float* a_unit,
                                                                  float* b_unit, int n,
                                                                  float grad_weight,
                                                                  float eps = 1e-12f) {
  const float norm_a = l2_normalize_row(a, a_unit, n, eps);
  l2_normalize_row(b, b_unit, n, eps);
  const float cosine = dot_row(a_unit, b_unit, n);
  l2_normalize_row_backward(a_unit, b_unit, da, n, norm_a, grad_weight);
  return cosine;
}

/// (s − t)² for one element, with ds = grad_weight·2·(s − t).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float squared_error(float s, float t, float grad_weight,
                                                          float& ds) {
  const float diff = s - t;
  ds = grad_weight * 2.0f * diff;
  return diff * diff;
}

}  // namespace tspipe::kernels
