#pragma once
// Batch normalisation math for one channel c of a tensor viewed as [n, channels, inner]
// (BatchNorm2d: inner = H·W; BatchNorm1d: inner = 1 or L). Statistics span n·inner values.
#include <tspipe/kernels/config.hpp>

#include <cmath>
#include <cstdint>

namespace tspipe::kernels {

/// Mean and biased variance of channel c (accumulated in double: n·inner may be large).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void batchnorm_channel_moments(const float* x, int64_t n,
                                                                     int64_t channels, int64_t inner,
                                                                     int64_t c, float* mean_out,
                                                                     float* var_out) {
  double sum = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float* p = x + (i * channels + c) * inner;
    for (int64_t j = 0; j < inner; ++j) sum += p[j];
  }
  const double count = static_cast<double>(n * inner);
  const double mean = sum / count;
  double sq = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const float* p = x + (i * channels + c) * inner;
    for (int64_t j = 0; j < inner; ++j) sq += (p[j] - mean) * (p[j] - mean);
  }
  *mean_out = static_cast<float>(mean);
  *var_out = static_cast<float>(sq / count);
}

/// y = x·scale + shift over channel c (scale = γ·rstd, shift = β − mean·scale).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void batchnorm_channel_apply(const float* x, float* y, int64_t n,
                                                                   int64_t channels, int64_t inner,
                                                                   int64_t c, float scale, float shift) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = (i * channels + c) * inner;
    for (int64_t j = 0; j < inner; ++j) y[off + j] = x[off + j] * scale + shift;
  }
}

/// Backward over channel c. With batch statistics (training) the mean and variance depend on x:
///   dx = γ·rstd·(dy − mean(dy) − x̂·mean(dy·x̂));
/// with fixed (running) statistics dx = γ·rstd·dy. Adds Σ dy·x̂ to *dgamma and Σ dy to *dbeta.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void batchnorm_channel_backward(
    const float* x, const float* dy, float* dx, int64_t n, int64_t channels, int64_t inner, int64_t c,
    float mean, float rstd, float gamma, bool batch_statistics, float* dgamma, float* dbeta) {
  double sum_dy = 0.0, sum_dy_xhat = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = (i * channels + c) * inner;
    for (int64_t j = 0; j < inner; ++j) {
      sum_dy += dy[off + j];
      sum_dy_xhat += dy[off + j] * ((x[off + j] - mean) * rstd);
    }
  }
  *dgamma += static_cast<float>(sum_dy_xhat);
  *dbeta += static_cast<float>(sum_dy);
  if (!dx) return;
  const float k = gamma * rstd;
  if (!batch_statistics) {
    for (int64_t i = 0; i < n; ++i) {
      const int64_t off = (i * channels + c) * inner;
      for (int64_t j = 0; j < inner; ++j) dx[off + j] = k * dy[off + j];
    }
    return;
  }
  const double count = static_cast<double>(n * inner);
  const float mean_dy = static_cast<float>(sum_dy / count);
  const float mean_dy_xhat = static_cast<float>(sum_dy_xhat / count);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t off = (i * channels + c) * inner;
    for (int64_t j = 0; j < inner; ++j) {
      const float xhat = (x[off + j] - mean) * rstd;
      dx[off + j] = k * (dy[off + j] - mean_dy - xhat * mean_dy_xhat);
    }
  }
}

}  // namespace tspipe::kernels
