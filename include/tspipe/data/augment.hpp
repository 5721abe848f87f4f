#pragma once
// Augmentations: small ops on one C×H×W float image, each taking its randomness from an explicit
// Rng so that a view is a pure function of (image, seed). Ops expect pixels in [0, 1] (what
// to_float_image gives) and Normalize comes last, as in torchvision recipes.
#include <tspipe/data/dataset.hpp>
#include <tspipe/data/rng.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::data {

/// One image, channel-major then row-major.
struct Image {
  int c = 0, h = 0, w = 0;
  std::vector<float> px;

  Image() = default;
  Image(int channels, int height, int width, float fill = 0.0f)
      : c(channels), h(height), w(width),
        px(static_cast<std::size_t>(channels) * static_cast<std::size_t>(height) * static_cast<std::size_t>(width), fill) {}
  float& at(int ch, int y, int x) noexcept { return px[(static_cast<std::size_t>(ch) * h + y) * w + x]; }
  float at(int ch, int y, int x) const noexcept { return px[(static_cast<std::size_t>(ch) * h + y) * w + x]; }
};

/// Bytes → floats in [0, 1].
inline Image to_float_image(std::span<const std::uint8_t> bytes, int c, int h, int w) {
  Image img(c, h, w);
  for (std::size_t i = 0; i < img.px.size(); ++i) img.px[i] = static_cast<float>(bytes[i]) * (1.0f / 255.0f);
  return img;
}

// ---- deterministic building blocks (the random ops only choose their arguments) --------------

/// Mirrors the image left–right.
inline void flip_horizontal(Image& img) noexcept {
  for (int ch = 0; ch < img.c; ++ch)
    for (int y = 0; y < img.h; ++y) std::reverse(&img.at(ch, y, 0), &img.at(ch, y, 0) + img.w);
}

/// The h×w window at (top, left) of the image surrounded by `pad` zero pixels on each side;
/// top and left range over [0, 2·pad].
inline Image crop_padded(const Image& img, int pad, int top, int left) {
  Image out(img.c, img.h, img.w);
  for (int ch = 0; ch < img.c; ++ch)
    for (int y = 0; y < img.h; ++y) {
      const int sy = y + top - pad;
      if (sy < 0 || sy >= img.h) continue;
      for (int x = 0; x < img.w; ++x) {
        const int sx = x + left - pad;
        if (sx >= 0 && sx < img.w) out.at(ch, y, x) = img.at(ch, sy, sx);
      }
    }
  return out;
}

/// Bilinear resize of the region [top, top+height) × [left, left+width) to out_h × out_w, sampling
/// at pixel centres (align_corners = false, as torchvision does).
inline Image resize_region_bilinear(const Image& img, int top, int left, int height, int width, int out_h,
                                    int out_w) {
  Image out(img.c, out_h, out_w);
  const float sy = static_cast<float>(height) / static_cast<float>(out_h);
  const float sx = static_cast<float>(width) / static_cast<float>(out_w);
  auto source_axis = [](int i, float scale, int origin, int extent, int& lo, int& hi, float& frac) {
    const float pos = std::clamp((static_cast<float>(i) + 0.5f) * scale - 0.5f, 0.0f, static_cast<float>(extent - 1));
    lo = static_cast<int>(pos);
    hi = std::min(lo + 1, extent - 1);
    frac = pos - static_cast<float>(lo);
    lo += origin;
    hi += origin;
  };
  for (int y = 0; y < out_h; ++y) {
    int y0, y1;
    float fy;
    source_axis(y, sy, top, height, y0, y1, fy);
    for (int x = 0; x < out_w; ++x) {
      int x0, x1;
      float fx;
      source_axis(x, sx, left, width, x0, x1, fx);
      for (int ch = 0; ch < img.c; ++ch) {
        const float upper = img.at(ch, y0, x0) * (1 - fx) + img.at(ch, y0, x1) * fx;
        const float lower = img.at(ch, y1, x0) * (1 - fx) + img.at(ch, y1, x1) * fx;
        out.at(ch, y, x) = upper * (1 - fy) + lower * fy;
      }
    }
  }
  return out;
}

/// Mean brightness of the image: luma (ITU-R 601) for 3 channels, the plain mean otherwise.
inline float mean_intensity(const Image& img) noexcept {
  const std::size_t plane = static_cast<std::size_t>(img.h) * static_cast<std::size_t>(img.w);
  double sum = 0;
  if (img.c == 3) {
    constexpr double luma[3] = {0.299, 0.587, 0.114};
    for (int ch = 0; ch < 3; ++ch)
      for (std::size_t i = 0; i < plane; ++i) sum += luma[ch] * img.px[ch * plane + i];
    return static_cast<float>(sum / static_cast<double>(plane));
  }
  for (float v : img.px) sum += v;
  return static_cast<float>(sum / static_cast<double>(img.px.size()));
}

/// Separable Gaussian blur; edges repeat the border pixel.
inline void gaussian_blur(Image& img, int kernel_size, float sigma) {
  const int radius = kernel_size / 2;
  std::vector<float> kernel(static_cast<std::size_t>(2 * radius + 1));
  float total = 0;
  for (int k = -radius; k <= radius; ++k) {
    const float v = std::exp(-0.5f * static_cast<float>(k * k) / (sigma * sigma));
    kernel[static_cast<std::size_t>(k + radius)] = v;
    total += v;
  }
  for (float& v : kernel) v /= total;
  Image tmp(img.c, img.h, img.w);
  for (int ch = 0; ch < img.c; ++ch)
    for (int y = 0; y < img.h; ++y)
      for (int x = 0; x < img.w; ++x) {
        float acc = 0;
        for (int k = -radius; k <= radius; ++k)
          acc += kernel[static_cast<std::size_t>(k + radius)] * img.at(ch, y, std::clamp(x + k, 0, img.w - 1));
        tmp.at(ch, y, x) = acc;
      }
  for (int ch = 0; ch < img.c; ++ch)
    for (int y = 0; y < img.h; ++y)
      for (int x = 0; x < img.w; ++x) {
        float acc = 0;
        for (int k = -radius; k <= radius; ++k)
          acc += kernel[static_cast<std::size_t>(k + radius)] * tmp.at(ch, std::clamp(y + k, 0, img.h - 1), x);
        img.at(ch, y, x) = acc;
      }
}

// ---- random ops: each is a callable (Image&, Rng&) ------------------------------------------

/// Zero-pads by `pad` on every side and crops back to the original size at a random offset.
struct RandomCrop {
  int pad;
  explicit RandomCrop(int padding) : pad(padding) {
    if (pad < 0) throw Error("RandomCrop: padding " + std::to_string(pad) + " is negative");
  }
  void operator()(Image& img, Rng& rng) const {
    const int top = rng.int_between(0, 2 * pad), left = rng.int_between(0, 2 * pad);
    img = crop_padded(img, pad, top, left);
  }
};

/// Mirrors the image with probability p.
struct HorizontalFlip {
  float p;
  explicit HorizontalFlip(float probability = 0.5f) : p(probability) {
    if (!(p >= 0 && p <= 1)) throw Error("HorizontalFlip: probability " + std::to_string(p) + " is outside [0, 1]");
  }
  void operator()(Image& img, Rng& rng) const {
    if (rng.chance(p)) flip_horizontal(img);
  }
};

/// Crops a random region covering `scale` of the area with aspect ratio (w/h) in `ratio`
/// (log-uniform), resized bilinearly to out_h × out_w — torchvision's RandomResizedCrop,
/// including its ten tries and its centre-crop fallback.
struct RandomResizedCrop {
  int out_h, out_w;
  float scale_min, scale_max, ratio_min, ratio_max;
  RandomResizedCrop(int height, int width, float smin = 0.08f, float smax = 1.0f, float rmin = 3.0f / 4.0f,
                    float rmax = 4.0f / 3.0f)
      : out_h(height), out_w(width), scale_min(smin), scale_max(smax), ratio_min(rmin), ratio_max(rmax) {
    if (out_h < 1 || out_w < 1)
      throw Error("RandomResizedCrop: output size " + std::to_string(out_h) + "x" + std::to_string(out_w) +
                  " is empty");
    if (!(scale_min > 0 && scale_min <= scale_max && scale_max <= 1))
      throw Error("RandomResizedCrop: scale range [" + std::to_string(scale_min) + ", " + std::to_string(scale_max) +
                  "] must satisfy 0 < min <= max <= 1");
    if (!(ratio_min > 0 && ratio_min <= ratio_max))
      throw Error("RandomResizedCrop: ratio range [" + std::to_string(ratio_min) + ", " + std::to_string(ratio_max) +
                  "] must satisfy 0 < min <= max");
  }
  void operator()(Image& img, Rng& rng) const {
    const float area = static_cast<float>(img.h) * static_cast<float>(img.w);
    const float log_rmin = std::log(ratio_min), log_rmax = std::log(ratio_max);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const float target = area * rng.uniform(scale_min, scale_max);
      const float aspect = std::exp(rng.uniform(log_rmin, log_rmax));
      const int cw = static_cast<int>(std::lround(std::sqrt(target * aspect)));
      const int ch = static_cast<int>(std::lround(std::sqrt(target / aspect)));
      if (cw > 0 && cw <= img.w && ch > 0 && ch <= img.h) {
        const int top = rng.int_between(0, img.h - ch), left = rng.int_between(0, img.w - cw);
        img = resize_region_bilinear(img, top, left, ch, cw, out_h, out_w);
        return;
      }
    }
    // Fallback: the largest centred crop whose aspect ratio lies in range.
    const float in_ratio = static_cast<float>(img.w) / static_cast<float>(img.h);
    int cw = img.w, ch = img.h;
    if (in_ratio < ratio_min) ch = std::max(1, static_cast<int>(std::lround(static_cast<float>(cw) / ratio_min)));
    else if (in_ratio > ratio_max) cw = std::max(1, static_cast<int>(std::lround(static_cast<float>(ch) * ratio_max)));
    ch = std::min(ch, img.h);
    cw = std::min(cw, img.w);
    img = resize_region_bilinear(img, (img.h - ch) / 2, (img.w - cw) / 2, ch, cw, out_h, out_w);
  }
};

/// Scales brightness by a factor in [1−b, 1+b], then contrast around the mean intensity by a
/// factor in [1−c, 1+c], clamping to [0, 1]; applied with probability p.
struct ColorJitter {
  float brightness, contrast, p;
  ColorJitter(float b, float c, float probability = 1.0f) : brightness(b), contrast(c), p(probability) {
    if (!(brightness >= 0 && contrast >= 0))
      throw Error("ColorJitter: brightness " + std::to_string(brightness) + " and contrast " +
                  std::to_string(contrast) + " must be >= 0");
    if (!(p >= 0 && p <= 1)) throw Error("ColorJitter: probability " + std::to_string(p) + " is outside [0, 1]");
  }
  void operator()(Image& img, Rng& rng) const {
    // Draw every number before deciding, so p changes whether, never which, factors are used.
    const bool apply = rng.chance(p);
    const float b = rng.uniform(std::max(0.0f, 1 - brightness), 1 + brightness);
    const float c = rng.uniform(std::max(0.0f, 1 - contrast), 1 + contrast);
    if (!apply) return;
    for (float& v : img.px) v = std::clamp(v * b, 0.0f, 1.0f);
    const float mean = mean_intensity(img);
    for (float& v : img.px) v = std::clamp((v - mean) * c + mean, 0.0f, 1.0f);
  }
};

/// Gaussian blur with sigma uniform in [sigma_min, sigma_max], applied with probability p.
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
    if (!(p >= 0 && p <= 1)) throw Error("GaussianBlur: probability " + std::to_string(p) + " is outside [0, 1]");
  }
  void operator()(Image& img, Rng& rng) const {
    const bool apply = rng.chance(p);
    const float sigma = rng.uniform(sigma_min, sigma_max);
    if (apply) gaussian_blur(img, kernel_size, sigma);
  }
};

/// Adds N(0, stddev²) noise to every pixel with probability p (no clamping: the noise is the point).
struct GaussianNoise {
  float stddev, p;
  explicit GaussianNoise(float sd, float probability = 1.0f) : stddev(sd), p(probability) {
    if (!(stddev >= 0)) throw Error("GaussianNoise: stddev " + std::to_string(stddev) + " is negative");
    if (!(p >= 0 && p <= 1)) throw Error("GaussianNoise: probability " + std::to_string(p) + " is outside [0, 1]");
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
    const std::size_t plane = static_cast<std::size_t>(img.h) * static_cast<std::size_t>(img.w);
    for (int ch = 0; ch < img.c; ++ch) {
      const std::size_t k = stats.mean.size() == 1 ? 0 : static_cast<std::size_t>(ch);
      const float mean = stats.mean[k], inv = 1.0f / stats.stddev[k];
      for (std::size_t i = 0; i < plane; ++i) img.px[ch * plane + i] = (img.px[ch * plane + i] - mean) * inv;
    }
  }
};

// ---- composition ----------------------------------------------------------------------------

using AugmentOp = std::function<void(Image&, Rng&)>;

/// The ops that turn one stored image into one view, applied in order.
class ViewPipeline {
 public:
  ViewPipeline() = default;
  ViewPipeline(std::initializer_list<AugmentOp> ops) : ops_(ops) {}
  ViewPipeline& then(AugmentOp op) {
    ops_.push_back(std::move(op));
    return *this;
  }
  void operator()(Image& img, Rng& rng) const {
    for (const AugmentOp& op : ops_) op(img, rng);
  }
  /// The view of a stored image (bytes) drawn with `rng`.
  Image view(std::span<const std::uint8_t> bytes, int c, int h, int w, Rng& rng) const {
    Image img = to_float_image(bytes, c, h, w);
    (*this)(img, rng);
    return img;
  }
  std::size_t size() const noexcept { return ops_.size(); }

 private:
  std::vector<AugmentOp> ops_;
};

/// V views per example: one pipeline per view (SSL: two random views, possibly asymmetric as in
/// BYOL; KD: one).
struct MultiView {
  std::vector<ViewPipeline> views;
  int count() const noexcept { return static_cast<int>(views.size()); }
};

/// Evaluation: one view, normalised only.
inline MultiView eval_views(const Normalization& norm) { return {{ViewPipeline{Normalize(norm)}}}; }

/// Knowledge distillation: one view, padded random crop and flip (the CIFAR recipe).
inline MultiView kd_views(const Normalization& norm, int pad = 4) {
  return {{ViewPipeline{RandomCrop(pad), HorizontalFlip(0.5f), Normalize(norm)}}};
}

/// Self-supervised learning: two independently drawn views of size out×out (BYOL/MoCo-v3's
/// recipe cut to what a grey image allows: no hue/saturation, blur in place of solarisation).
inline MultiView ssl_views(const Normalization& norm, int out_size, int blur_kernel = 3) {
  ViewPipeline one{RandomResizedCrop(out_size, out_size, 0.2f, 1.0f), HorizontalFlip(0.5f),
                   ColorJitter(0.4f, 0.4f, 0.8f), GaussianBlur(blur_kernel, 0.1f, 2.0f, 0.5f), Normalize(norm)};
  return {{one, one}};
}

}  // namespace tspipe::data
