#pragma once
// Channels-last (NHWC) and channels-first (NCHW) layouts of a 4-D activation or filter, and the
// moves between them. Tensor Cores run convolutions on NHWC data (cuDNN's fast kernels take it
// directly and transpose NCHW first otherwise), while the CPU backend and the checkpoints keep
// NCHW; a filter [K, C, R, S] moves the same way to [K, R, S, C] (cuDNN's NHWC filter format).
// One element per call, so a GPU kernel runs one thread per element and the host loops.
#include <tspipe/kernels/config.hpp>

#include <cstdint>

namespace tspipe::kernels {

struct Dims4 {
  std::int64_t n, c, h, w;
  TSPIPE_HOST_DEVICE std::int64_t elements() const { return n * c * h * w; }
};

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE std::int64_t nchw_offset(const Dims4& d, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  return ((n * d.c + c) * d.h + h) * d.w + w;
}

TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE std::int64_t nhwc_offset(const Dims4& d, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  return ((n * d.h + h) * d.w + w) * d.c + c;
}

/// Element i (in NHWC order) of the NHWC copy of `nchw`.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void nchw_to_nhwc_element(const float* nchw, float* nhwc, const Dims4& d, std::int64_t i) {
  const std::int64_t c = i % d.c, w = (i / d.c) % d.w, h = (i / (d.c * d.w)) % d.h, n = i / (d.c * d.w * d.h);
  nhwc[i] = nchw[nchw_offset(d, n, c, h, w)];
}

/// Element i (in NCHW order) of the NCHW copy of `nhwc`.
TSPIPE_HOST_DEVICE TSPIPE_FORCEINLINE void nhwc_to_nchw_element(const float* nhwc, float* nchw, const Dims4& d, std::int64_t i) {
  const std::int64_t w = i % d.w, h = (i / d.w) % d.h, c = (i / (d.w * d.h)) % d.c, n = i / (d.w * d.h * d.c);
  nchw[i] = nhwc[nhwc_offset(d, n, c, h, w)];
}

inline void nchw_to_nhwc(const float* nchw, float* nhwc, const Dims4& d) {
  for (std::int64_t i = 0; i < d.elements(); ++i) nchw_to_nhwc_element(nchw, nhwc, d, i);
}

inline void nhwc_to_nchw(const float* nhwc, float* nchw, const Dims4& d) {
  for (std::int64_t i = 0; i < d.elements(); ++i) nhwc_to_nchw_element(nhwc, nchw, d, i);
}

}  // namespace tspipe::kernels
