#pragma once
// Elementwise activations and their derivatives (CPU and CUDA share these).
#include <tspipe/kernels/config.hpp>

#include <cmath>

namespace tspipe::kernels {

/// Which elementwise activation a layer applies.
enum class Activation { relu, gelu };

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float relu(float x) { return x > 0.0f ? x : 0.0f; }
/// d relu / dx at x, times dy (the subgradient at 0 is taken as 0, as PyTorch does).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float relu_backward(float x, float dy) { return x > 0.0f ? dy : 0.0f; }

/// Exact GELU: x·Φ(x), Φ the standard normal CDF (PyTorch's default, approximate='none').
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float gelu(float x) {
  return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
}
/// d gelu / dx = Φ(x) + x·φ(x), times dy.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE float gelu_backward(float x, float dy) {
  const float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752f));
  const float pdf = 0.39894228040143268f * expf(-0.5f * x * x);
  return dy * (cdf + x * pdf);
}

}  // namespace tspipe::kernels
