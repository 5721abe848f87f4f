#pragma once
// 2-D max and average pooling over one plane [H, W] → [OH, OW].
// Average pooling divides by the full window (padding counts, PyTorch's count_include_pad=True).
#include <tspipe/kernels/config.hpp>

#include <cstdint>

namespace tspipe::kernels {

struct PoolGeometry {
  int64_t height, width, kernel, stride, pad;
  TSPIPE_HOST_DEVICE int64_t out_h() const { return (height + 2 * pad - kernel) / stride + 1; }
  TSPIPE_HOST_DEVICE int64_t out_w() const { return (width + 2 * pad - kernel) / stride + 1; }
};

/// Calls f(i) for the index i = ih·W + iw of every input element in the window of output (oh, ow),
/// row by row; elements of the padding are skipped.
template <class F>
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void for_each_in_window(const PoolGeometry& g, int64_t oh, int64_t ow, F&& f) {
  for (int64_t ki = 0; ki < g.kernel; ++ki) {
    const int64_t ih = oh * g.stride - g.pad + ki;
    if (ih < 0 || ih >= g.height) continue;
    for (int64_t kj = 0; kj < g.kernel; ++kj) {
      const int64_t iw = ow * g.stride - g.pad + kj;
      if (iw >= 0 && iw < g.width) f(ih * g.width + iw);
    }
  }
}

/// Index (ih·W + iw) of the window maximum at (oh, ow); the first one wins ties. −1 if the window
/// lies entirely in padding (impossible when pad < kernel, which the layers check).
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE int64_t maxpool_argmax(const float* plane, const PoolGeometry& g,
                                                             int64_t oh, int64_t ow) {
  int64_t best = -1;
  float best_v = 0.0f;
  for_each_in_window(g, oh, ow, [&](int64_t i) {
    if (best < 0 || plane[i] > best_v) {
      best = i;
      best_v = plane[i];
    }
  });
  return best;
}

TSPIPE_HOST_DEVICE inline void maxpool_plane_forward(const float* x, const PoolGeometry& g, float* y) {
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  for (int64_t oh = 0; oh < oh_n; ++oh)
    for (int64_t ow = 0; ow < ow_n; ++ow) y[oh * ow_n + ow] = x[maxpool_argmax(x, g, oh, ow)];
}
/// Routes each dy to its window's maximum (recomputed from x); dx must be zeroed by the caller.
TSPIPE_HOST_DEVICE inline void maxpool_plane_backward(const float* x, const float* dy,
                                                      const PoolGeometry& g, float* dx) {
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  for (int64_t oh = 0; oh < oh_n; ++oh)
    for (int64_t ow = 0; ow < ow_n; ++ow) dx[maxpool_argmax(x, g, oh, ow)] += dy[oh * ow_n + ow];
}

TSPIPE_HOST_DEVICE inline void avgpool_plane_forward(const float* x, const PoolGeometry& g, float* y) {
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  const float inv = 1.0f / static_cast<float>(g.kernel * g.kernel);
  for (int64_t oh = 0; oh < oh_n; ++oh)
    for (int64_t ow = 0; ow < ow_n; ++ow) {
      float s = 0.0f;
      for_each_in_window(g, oh, ow, [&](int64_t i) { s += x[i]; });
      y[oh * ow_n + ow] = s * inv;
    }
}
/// Spreads dy/(k·k) over each window; dx must be zeroed by the caller.
TSPIPE_HOST_DEVICE inline void avgpool_plane_backward(const float* dy, const PoolGeometry& g, float* dx) {
  const int64_t oh_n = g.out_h(), ow_n = g.out_w();
  const float inv = 1.0f / static_cast<float>(g.kernel * g.kernel);
  for (int64_t oh = 0; oh < oh_n; ++oh)
    for (int64_t ow = 0; ow < ow_n; ++ow) {
      const float share = dy[oh * ow_n + ow] * inv;
      for_each_in_window(g, oh, ow, [&](int64_t i) { dx[i] += share; });
    }
}

}  // namespace tspipe::kernels
