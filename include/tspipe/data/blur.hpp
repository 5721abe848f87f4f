#pragma once
// Gaussian blur as torchvision.transforms.functional.gaussian_blur computes it on a float tensor:
// the kernel exp(−x²/2σ²) normalised over kernel_size taps, the image padded by reflection (the
// border pixel is not repeated). Computed separably (two 1-D passes instead of one 2-D pass: the
// same sums in another order), using the kernel's symmetry, with taps too small to change a float
// in [0, 1] (below 1e-9 of the total) left out; each pass is a loop over a row, so it vectorises.
#include <tspipe/data/image.hpp>
#include <tspipe/error.hpp>

#include <cmath>
#include <cstddef>
#include <string>
#include <vector>

namespace tspipe::data {

/// torchvision's 1-D Gaussian kernel: taps at −(size−1)/2 … (size−1)/2, normalised to sum 1.
inline std::vector<float> gaussian_kernel(int size, float sigma) {
  if (size < 1 || size % 2 == 0) throw Error("gaussian_kernel: size " + std::to_string(size) + " must be odd and positive");
  if (!(sigma > 0)) throw Error("gaussian_kernel: sigma " + std::to_string(sigma) + " must be positive");
  const int radius = size / 2;
  std::vector<float> kernel(static_cast<std::size_t>(size));
  float total = 0;
  for (int i = 0; i < size; ++i) {
    const float z = static_cast<float>(i - radius) / sigma;
    kernel[static_cast<std::size_t>(i)] = std::exp(-0.5f * (z * z));
    total += kernel[static_cast<std::size_t>(i)];
  }
  for (float& v : kernel) v /= total;
  return kernel;
}

/// Index i mirrored into [0, n) without repeating the edge (…, 2, 1, 0, 1, 2, …, n−2, n−1, n−2, …).
inline int reflect_index(int i, int n) noexcept {
  if (n == 1) return 0;
  while (i < 0 || i >= n) i = i < 0 ? -i : 2 * (n - 1) - i;
  return i;
}

/// Blurs every channel in place with a kernel_size × kernel_size Gaussian of the given sigma.
inline void gaussian_blur(Image& img, int kernel_size, float sigma) {
  const std::vector<float> full = gaussian_kernel(kernel_size, sigma);
  int radius = kernel_size / 2;
  while (radius > 0 && full[static_cast<std::size_t>(kernel_size / 2 - radius)] < 1e-9f) --radius;
  const float* k = full.data() + (kernel_size / 2 - radius);  // k[0 .. 2·radius]
  if (radius == 0) return;                                     // the centre tap is 1: nothing moves

  const int h = img.h, w = img.w;
  thread_local std::vector<float> padded, tmp;
  padded.resize(static_cast<std::size_t>(w + 2 * radius));
  tmp.resize(img.plane());
  for (int ch = 0; ch < img.c; ++ch) {
    float* plane = img.channel(ch);
    for (int y = 0; y < h; ++y) {
      const float* row = plane + static_cast<std::size_t>(y) * w;
      for (int j = 0; j < w + 2 * radius; ++j) padded[static_cast<std::size_t>(j)] = row[reflect_index(j - radius, w)];
      float* out = tmp.data() + static_cast<std::size_t>(y) * w;
      const float* p = padded.data();
      const float centre = k[radius];
      for (int x = 0; x < w; ++x) out[x] = centre * p[x + radius];
      for (int t = 0; t < radius; ++t) {
        const float kt = k[t];
        for (int x = 0; x < w; ++x) out[x] += kt * (p[x + t] + p[x + 2 * radius - t]);
      }
    }
    for (int y = 0; y < h; ++y) {
      float* out = plane + static_cast<std::size_t>(y) * w;
      const float* mid = tmp.data() + static_cast<std::size_t>(y) * w;
      const float centre = k[radius];
      for (int x = 0; x < w; ++x) out[x] = centre * mid[x];
      for (int t = 0; t < radius; ++t) {
        const float kt = k[t];
        const float* above = tmp.data() + static_cast<std::size_t>(reflect_index(y - radius + t, h)) * w;
        const float* below = tmp.data() + static_cast<std::size_t>(reflect_index(y + radius - t, h)) * w;
        for (int x = 0; x < w; ++x) out[x] += kt * (above[x] + below[x]);
      }
    }
  }
}

}  // namespace tspipe::data
