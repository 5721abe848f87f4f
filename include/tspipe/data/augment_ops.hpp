#pragma once
// The random augmentations that follow a view's geometry, on float C×H×W images. Each is a
// callable (Image&, Rng&) that draws its parameters from the Rng and then applies the
// deterministic operation of color.hpp / blur.hpp — so a view is a pure function of the image and
// the Rng's seed. Every op draws the same numbers whether or not it applies, so a probability
// changes whether, never which, parameters are used.
#include <tspipe/data/blur.hpp>
#include <tspipe/data/color.hpp>
#include <tspipe/data/dataset.hpp>
#include <tspipe/data/image.hpp>
#include <tspipe/data/rng.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <array>
#include <cstddef>
#include <string>
#include <utility>

namespace tspipe::data {

namespace detail {
inline void check_probability(const char* op, float p) {
  if (!(p >= 0 && p <= 1)) throw Error(std::string(op) + ": probability " + std::to_string(p) + " is outside [0, 1]");
}
}  // namespace detail

/// Mirrors the image with probability p.
struct HorizontalFlip {
  float p;
  explicit HorizontalFlip(float probability = 0.5f) : p(probability) { detail::check_probability("HorizontalFlip", p); }
  void operator()(Image& img, Rng& rng) const {
    if (rng.chance(p)) flip_horizontal(img);
  }
};

/// ColorJitter's four strengths: factors are drawn from [max(0, 1 − s), 1 + s] for brightness,
/// contrast and saturation, the hue shift from [−hue, hue]; a strength of 0 leaves that part out.
struct JitterStrength {
  float brightness = 0, contrast = 0, saturation = 0, hue = 0;
};

/// torchvision's RandomApply([ColorJitter(b, c, s, h)], p): with probability p, brightness,
/// contrast, saturation and hue adjustments in a random order.
struct ColorJitter {
  JitterStrength strength;
  float p;
  explicit ColorJitter(JitterStrength s, float probability = 1.0f) : strength(s), p(probability) {
    if (!(s.brightness >= 0 && s.contrast >= 0 && s.saturation >= 0))
      throw Error("ColorJitter: brightness " + std::to_string(s.brightness) + ", contrast " + std::to_string(s.contrast) +
                  " and saturation " + std::to_string(s.saturation) + " must be >= 0");
    if (!(s.hue >= 0 && s.hue <= 0.5f)) throw Error("ColorJitter: hue " + std::to_string(s.hue) + " is outside [0, 0.5]");
    detail::check_probability("ColorJitter", p);
  }
  void operator()(Image& img, Rng& rng) const {
    const bool apply = rng.chance(p);
    std::array<int, 4> order{0, 1, 2, 3};
    for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.below(i)]);
    auto factor = [&](float s) { return rng.uniform(std::max(0.0f, 1 - s), 1 + s); };
    const float b = factor(strength.brightness), c = factor(strength.contrast), s = factor(strength.saturation);
    const float h = rng.uniform(-strength.hue, strength.hue);
    if (!apply) return;
    for (int op : order) {
      if (op == 0 && strength.brightness > 0) adjust_brightness(img, b);
      if (op == 1 && strength.contrast > 0) adjust_contrast(img, c);
      if (op == 2 && strength.saturation > 0) adjust_saturation(img, s);
      if (op == 3 && strength.hue > 0) adjust_hue(img, h);
    }
  }
};

/// torchvision's RandomGrayscale(p): every channel replaced by the luma.
struct RandomGrayscale {
  float p;
  explicit RandomGrayscale(float probability = 0.1f) : p(probability) { detail::check_probability("RandomGrayscale", p); }
  void operator()(Image& img, Rng& rng) const {
    if (rng.chance(p)) to_grayscale(img);
  }
};

/// torchvision's RandomApply([GaussianBlur(kernel_size, (sigma_min, sigma_max))], p).
struct GaussianBlur {
  int kernel_size;
  float sigma_min, sigma_max, p;
  GaussianBlur(int size, float smin = 0.1f, float smax = 2.0f, float probability = 0.5f)
      : kernel_size(size), sigma_min(smin), sigma_max(smax), p(probability) {
    if (kernel_size < 1 || kernel_size % 2 == 0)
      throw Error("GaussianBlur: kernel size " + std::to_string(kernel_size) + " must be odd and positive");
    if (!(sigma_min > 0 && sigma_min <= sigma_max))
      throw Error("GaussianBlur: sigma range [" + std::to_string(sigma_min) + ", " + std::to_string(sigma_max) +
                  "] must satisfy 0 < min <= max");
    detail::check_probability("GaussianBlur", p);
  }
  void operator()(Image& img, Rng& rng) const {
    const bool apply = rng.chance(p);
    const float sigma = rng.uniform(sigma_min, sigma_max);
    if (apply) gaussian_blur(img, kernel_size, sigma);
  }
};

/// torchvision's RandomSolarize(threshold, p): pixels >= threshold become 1 − x. 0.5 on [0, 1]
/// equals PIL's ImageOps.solarize at its default 128 on 8-bit pixels.
struct RandomSolarize {
  float threshold, p;
  explicit RandomSolarize(float probability, float at = 0.5f) : threshold(at), p(probability) {
    detail::check_probability("RandomSolarize", p);
  }
  void operator()(Image& img, Rng& rng) const {
    if (rng.chance(p)) solarize(img, threshold);
  }
};

/// Adds N(0, stddev²) noise to every pixel with probability p (no clamping: the noise is the point).
struct GaussianNoise {
  float stddev, p;
  explicit GaussianNoise(float sd, float probability = 1.0f) : stddev(sd), p(probability) {
    if (!(stddev >= 0)) throw Error("GaussianNoise: stddev " + std::to_string(stddev) + " is negative");
    detail::check_probability("GaussianNoise", p);
  }
  void operator()(Image& img, Rng& rng) const {
    if (!rng.chance(p)) return;
    for (float& v : img.px) v += stddev * static_cast<float>(rng.normal());
  }
};

/// (x − mean[c]) / stddev[c]; one value applies to every channel.
struct Normalize {
  Normalization stats;
  explicit Normalize(Normalization n) : stats(std::move(n)) {
    if (stats.mean.empty() || stats.mean.size() != stats.stddev.size())
      throw Error("Normalize: " + std::to_string(stats.mean.size()) + " means and " +
                  std::to_string(stats.stddev.size()) + " standard deviations; need the same non-zero number");
    for (float s : stats.stddev)
      if (!(s > 0)) throw Error("Normalize: standard deviation " + std::to_string(s) + " must be positive");
  }
  void operator()(Image& img, Rng& /*unused: deterministic*/) const {
    if (stats.mean.size() != 1 && stats.mean.size() != static_cast<std::size_t>(img.c))
      throw Error("Normalize: " + std::to_string(stats.mean.size()) + " channel statistics for an image with " +
                  std::to_string(img.c) + " channels");
    for (int ch = 0; ch < img.c; ++ch) {
      const std::size_t k = stats.mean.size() == 1 ? 0 : static_cast<std::size_t>(ch);
      const float mean = stats.mean[k], sd = stats.stddev[k];
      float* v = img.channel(ch);
      for (std::size_t i = 0; i < img.plane(); ++i) v[i] = (v[i] - mean) / sd;
    }
  }
};

}  // namespace tspipe::data
