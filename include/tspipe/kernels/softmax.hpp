#pragma once
// Numerically stable row softmax / log-softmax over a contiguous row of `n` floats.
// Shared by attention (CPU and CUDA) and the cross-entropy family of losses.
#include <tspipe/kernels/config.hpp>

#include <cmath>

namespace tspipe::kernels {

/// Largest x[i] * scale of one row (the shift that keeps exp() from overflowing).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float scaled_row_max(const float* x, int n, float scale) {
  float m = x[0] * scale;
  for (int i = 1; i < n; ++i) m = x[i] * scale > m ? x[i] * scale : m;
  return m;
}

/// y = softmax(x * scale) over one row; x and y may alias.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void softmax_row(const float* x, float* y, int n,
                                                       float scale = 1.0f) {
  const float shift = scaled_row_max(x, n, scale);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) {
    y[i] = expf(x[i] * scale - shift);
    sum += y[i];
  }
  const float inv = 1.0f / sum;
  for (int i = 0; i < n; ++i) y[i] *= inv;
}

/// y = log_softmax(x * scale) over one row; x and y may alias.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void log_softmax_row(const float* x, float* y, int n,
                                                           float scale = 1.0f) {
  const float shift = scaled_row_max(x, n, scale);
  float sum = 0.0f;
  for (int i = 0; i < n; ++i) sum += expf(x[i] * scale - shift);
  const float log_z = shift + logf(sum);
  for (int i = 0; i < n; ++i) y[i] = x[i] * scale - log_z;
}

/// Backward of y = softmax(x) for one row: dx = y ⊙ (dy − ⟨dy, y⟩). dx may alias dy.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void softmax_row_backward(const float* y, const float* dy,
                                                                float* dx, int n) {
  float dot = 0.0f;
  for (int i = 0; i < n; ++i) dot += dy[i] * y[i];
  for (int i = 0; i < n; ++i) dx[i] = y[i] * (dy[i] - dot);
}

}  // namespace tspipe::kernels
