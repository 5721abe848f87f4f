#pragma once
// Layer normalisation of one row of n features: y = (x − mean)·rstd·γ + β.
#include <tspipe/kernels/config.hpp>

#include <cmath>

namespace tspipe::kernels {

/// Forward of one row. Writes y and returns mean and rstd = 1/sqrt(var + eps) (biased variance)
/// for the backward. Statistics are accumulated in double: rows can be long (ViT-L: 1024).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void layernorm_row_forward(const float* x, const float* gamma,
                                                                 const float* beta, float* y, int n,
                                                                 float eps, float* mean_out,
                                                                 float* rstd_out) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += x[i];
  const double mean = sum / n;
  double sq = 0.0;
  for (int i = 0; i < n; ++i) sq += (x[i] - mean) * (x[i] - mean);
  const float m = static_cast<float>(mean);
  const float rstd = static_cast<float>(1.0 / sqrt(sq / n + eps));
  for (int i = 0; i < n; ++i) y[i] = (x[i] - m) * rstd * gamma[i] + beta[i];
  if (mean_out) *mean_out = m;
  if (rstd_out) *rstd_out = rstd;
}

/// Backward of one row: dx = rstd·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) with ĝ = dy·γ, x̂ the normalised
/// input; dgamma += dy·x̂ and dbeta += dy (callers reduce these over rows).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void layernorm_row_backward(const float* x, const float* gamma,
                                                                  const float* dy, float mean,
                                                                  float rstd, int n, float* dx,
                                                                  float* dgamma, float* dbeta) {
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (int i = 0; i < n; ++i) {
    const float xhat = (x[i] - mean) * rstd;
    const float g = dy[i] * gamma[i];
    sum_g += g;
    sum_gx += g * xhat;
    dgamma[i] += dy[i] * xhat;
    dbeta[i] += dy[i];
  }
  const float mean_g = sum_g / n, mean_gx = sum_gx / n;
  for (int i = 0; i < n; ++i) {
    const float xhat = (x[i] - mean) * rstd;
    dx[i] = rstd * (dy[i] * gamma[i] - mean_g - xhat * mean_gx);
  }
}

}  // namespace tspipe::kernels
