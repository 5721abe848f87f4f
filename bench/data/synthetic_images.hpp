#pragma once
// Photograph-like test images for the data benchmarks: smooth colour fields, an edge and grain, so
// that a JPEG of them is about as large (and as slow to decode) as a photo of the same size: 21 KB
// on average at 256×256, quality 90.
#include <tspipe/data/image.hpp>
#include <tspipe/data/rng.hpp>

#include <cmath>
#include <cstdint>
#include <vector>

namespace tspipe::data::bench {

/// Interleaved RGB, h × w, a deterministic function of `seed`.
inline std::vector<std::uint8_t> photo_like_rgb(int h, int w, std::uint64_t seed) {
  Rng rng(seed);
  const float fx = rng.uniform(0.01f, 0.08f), fy = rng.uniform(0.01f, 0.08f), phase = rng.uniform(0.0f, 6.28f);
  const float base[3] = {rng.uniform(40, 200), rng.uniform(40, 200), rng.uniform(40, 200)};
  const int cx = rng.int_between(0, w - 1), cy = rng.int_between(0, h - 1), radius = rng.int_between(h / 8, h / 3);
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h) * w * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x) {
      const bool inside = (x - cx) * (x - cx) + (y - cy) * (y - cy) < radius * radius;
      for (int c = 0; c < 3; ++c) {
        float v = base[c] + 50.0f * std::sin(fx * static_cast<float>(x) * (1 + c) + fy * static_cast<float>(y) + phase);
        if (inside) v = 255.0f - v * 0.7f;
        v += 28.0f * (rng.uniform() - 0.5f);
        px[(static_cast<std::size_t>(y) * w + x) * 3 + static_cast<std::size_t>(c)] =
            static_cast<std::uint8_t>(std::lround(v < 0 ? 0 : v > 255 ? 255 : v));
      }
    }
  return px;
}

}  // namespace tspipe::data::bench
