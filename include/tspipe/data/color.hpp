#pragma once
// The colour operations of the augmentation recipes on float C×H×W images in [0, 1], each the
// computation torchvision.transforms.functional performs on a float tensor (same formulas, same
// constants, same order of operations), written as plain loops over a plane so they vectorise.
// One-channel images are left as they are by saturation and hue, as torchvision leaves them.
#include <tspipe/data/image.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

namespace tspipe::data {

namespace detail {

/// c ? a : b by bit masks: both values already computed, nothing for the compiler to branch on.
inline float select(bool c, float a, float b) noexcept {
  const std::uint32_t mask = 0u - static_cast<std::uint32_t>(c);
  return std::bit_cast<float>((std::bit_cast<std::uint32_t>(a) & mask) | (std::bit_cast<std::uint32_t>(b) & ~mask));
}

/// torchvision's _blend: clamp(ratio·a + (1 − ratio)·b, 0, 1) with b one value.
inline void blend_with(float* v, std::size_t n, float ratio, float other) noexcept {
  const float keep = 1.0f - ratio;
  for (std::size_t i = 0; i < n; ++i) v[i] = std::clamp(ratio * v[i] + keep * other, 0.0f, 1.0f);
}

}  // namespace detail

/// ITU-R 601 luma with torchvision's constants: 0.2989 R + 0.587 G + 0.114 B (1 channel: itself).
inline void grayscale_plane(const Image& img, std::vector<float>& out) {
  const std::size_t n = img.plane();
  out.resize(n);
  if (img.c != 3) {
    std::copy_n(img.channel(0), n, out.begin());
    return;
  }
  const float *r = img.channel(0), *g = img.channel(1), *b = img.channel(2);
  for (std::size_t i = 0; i < n; ++i) out[i] = 0.2989f * r[i] + 0.587f * g[i] + 0.114f * b[i];
}

/// Every channel replaced by the luma (RandomGrayscale keeps the channel count).
inline void to_grayscale(Image& img) {
  if (img.c == 1) return;
  if (img.c != 3) throw Error("to_grayscale: " + std::to_string(img.c) + " channels; need 1 or 3");
  std::vector<float> luma;
  grayscale_plane(img, luma);
  for (int ch = 0; ch < 3; ++ch) std::copy(luma.begin(), luma.end(), img.channel(ch));
}

/// Mean intensity: the mean luma for 3 channels, the plain mean otherwise (what contrast blends to).
inline float mean_intensity(const Image& img) {
  double sum = 0;
  if (img.c == 3) {
    std::vector<float> luma;
    grayscale_plane(img, luma);
    for (float v : luma) sum += v;
    return static_cast<float>(sum / static_cast<double>(luma.size()));
  }
  for (float v : img.px) sum += v;
  return static_cast<float>(sum / static_cast<double>(img.px.size()));
}

/// clamp(factor · x).
inline void adjust_brightness(Image& img, float factor) noexcept {
  for (float& v : img.px) v = std::clamp(factor * v, 0.0f, 1.0f);
}

/// Blends every pixel towards the mean intensity by 1 − factor.
inline void adjust_contrast(Image& img, float factor) {
  detail::blend_with(img.px.data(), img.px.size(), factor, mean_intensity(img));
}

/// Blends every pixel towards its own luma by 1 − factor.
inline void adjust_saturation(Image& img, float factor) {
  if (img.c != 3) return;
  std::vector<float> luma;
  grayscale_plane(img, luma);
  const float keep = 1.0f - factor;
  for (int ch = 0; ch < 3; ++ch) {
    float* v = img.channel(ch);
    for (std::size_t i = 0; i < luma.size(); ++i) v[i] = std::clamp(factor * v[i] + keep * luma[i], 0.0f, 1.0f);
  }
}

/// Rotates the hue by `shift` turns (|shift| <= 0.5) through HSV, as torchvision's _rgb2hsv and
/// _hsv2rgb do it, for pixels in [0, 1]. Every choice is a bitwise select, so the loop vectorises
/// (GCC turns `c ? x − y : 0`, and even `(float)c · (x − y)`, into a branch, since x − y might
/// trap). Divisions by "1 where the value is 0" are divisions by max(value, smallest float): the
/// numerator is then 0 either way.
inline void adjust_hue(Image& img, float shift) {
  if (!(shift >= -0.5f && shift <= 0.5f)) throw Error("adjust_hue: shift " + std::to_string(shift) + " is outside [-0.5, 0.5]");
  if (img.c != 3) return;
  using detail::select;
  constexpr float tiny = std::numeric_limits<float>::denorm_min();
  float *rp = img.channel(0), *gp = img.channel(1), *bp = img.channel(2);
  const std::size_t n = img.plane();
  for (std::size_t i = 0; i < n; ++i) {
    const float r = rp[i], g = gp[i], b = bp[i];
    // RGB -> HSV. When max == min, cr = 0 and every numerator below is 0.
    const float maxc = std::max(std::max(r, g), b), minc = std::min(std::min(r, g), b);
    const float cr = maxc - minc;
    const float s = cr / std::max(maxc, tiny);
    const float divisor = std::max(cr, tiny);
    const float rc = (maxc - r) / divisor, gc = (maxc - g) / divisor, bc = (maxc - b) / divisor;
    const bool is_r = maxc == r, is_g = maxc == g;
    const float hr = select(is_r, bc - gc, 0.0f);
    const float hg = select(is_g & !is_r, 2.0f + rc - bc, 0.0f);
    const float hb = select(!is_g & !is_r, 4.0f + gc - rc, 0.0f);
    // torch.fmod(h / 6 + 1, 1) for h / 6 + 1 in [5/6, 11/6]; then (h + shift) % 1 for a value in
    // [-0.5, 1.5): both the exact subtraction torch performs.
    float h = (hr + hg + hb) / 6.0f + 1.0f;
    h = select(h >= 1.0f, h - 1.0f, h);
    h = h + shift;
    h = select(h < 0.0f, h + 1.0f, select(h >= 1.0f, h - 1.0f, h));
    const float v = maxc;
    // HSV -> RGB; the sector is floor(6h) (truncation: 6h >= 0), wrapped into 0..5.
    const float h6 = h * 6.0f;
    float sector = static_cast<float>(static_cast<int>(h6));
    const float f = h6 - sector;
    sector = select(sector >= 6.0f, sector - 6.0f, sector);
    const float p = std::clamp(v * (1.0f - s), 0.0f, 1.0f);
    const float q = std::clamp(v * (1.0f - s * f), 0.0f, 1.0f);
    const float t = std::clamp(v * (1.0f - s * (1.0f - f)), 0.0f, 1.0f);
    const bool s0 = sector == 0.0f, s1 = sector == 1.0f, s2 = sector == 2.0f, s3 = sector == 3.0f,
               s4 = sector == 4.0f;
    // red: v, q, p, p, t, v; green: t, v, v, q, p, p; blue: p, p, t, v, v, q (sectors 0..5)
    rp[i] = select(s1, q, select(s2 | s3, p, select(s4, t, v)));
    gp[i] = select(s0, t, select(s1 | s2, v, select(s3, q, p)));
    bp[i] = select(s0 | s1, p, select(s2, t, select(s3 | s4, v, q)));
  }
}

/// Pixels at or above `threshold` become 1 − x.
inline void solarize(Image& img, float threshold) noexcept {
  for (float& v : img.px) v = v >= threshold ? 1.0f - v : v;
}

/// Mirrors the image left–right.
inline void flip_horizontal(Image& img) noexcept {
  for (int ch = 0; ch < img.c; ++ch)
    for (int y = 0; y < img.h; ++y) std::reverse(&img.at(ch, y, 0), &img.at(ch, y, 0) + img.w);
}

}  // namespace tspipe::data
