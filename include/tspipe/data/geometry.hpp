#pragma once
// The first step of every view: which pixels of the stored image it shows. A geometry op draws a
// ViewWindow from the image's size alone — before the image is decoded, so that a JPEG can be
// decoded only as large as the windows of all its views need — and render_window() then makes the
// view's float pixels from the stored 8-bit ones in one pass (crop, resize and conversion fused).
//
// The ops and the torchvision transforms they reproduce:
//   KeepSize           the image as it is (ToTensor)
//   RandomCrop         RandomCrop(size, padding): zero padding, a random window
//   RandomResizedCrop  RandomResizedCrop(size, scale, ratio), antialiased bilinear
//   ResizeCenterCrop   Resize(shorter side) then CenterCrop(size), antialiased bilinear
#include <tspipe/data/image.hpp>
#include <tspipe/data/resample.hpp>
#include <tspipe/data/rng.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <cmath>
#include <string>
#include <variant>

namespace tspipe::data {

/// Where one view's pixels come from.
struct ViewWindow {
  enum class Kind { shift, resample };
  Kind kind = Kind::shift;
  int out_h = 0, out_w = 0;
  // shift: output pixel (y, x) is stored pixel (y + top, x + left); zero outside the image.
  int top = 0, left = 0;
  // resample: a box in full-resolution pixels; taps stop at the box (crop then resize) or at the
  // image border (resize then crop).
  double y0 = 0, x0 = 0, box_h = 0, box_w = 0;
  bool clip_to_box = true;

  /// The largest of 1, 2, 4, 8 the image may be shrunk by before this window is rendered without
  /// upsampling what decoding downsampled: the box, shrunk, still has the output's pixel count.
  int max_shrink() const noexcept {
    if (kind != Kind::resample) return 1;
    int s = 8;
    while (s > 1 && (box_h / s < out_h || box_w / s < out_w)) s /= 2;
    return s;
  }
};

/// Renders `win` from `src`, the stored image of full_h × full_w pixels, possibly decoded smaller.
inline void render_window(const PixelView& src, const ViewWindow& win, int full_h, int full_w, Image& out) {
  if (win.kind == ViewWindow::Kind::shift) {
    if (src.height != full_h || src.width != full_w)
      throw Error("render_window: a shifted window needs the image at full size");
    out.reshape(src.channels, win.out_h, win.out_w);
    std::fill(out.px.begin(), out.px.end(), 0.0f);
    const int y_from = std::max(0, -win.top), y_to = std::min(win.out_h, src.height - win.top);
    const int x_from = std::max(0, -win.left), x_to = std::min(win.out_w, src.width - win.left);
    for (int c = 0; c < src.channels; ++c)
      for (int y = y_from; y < y_to; ++y) {
        const std::uint8_t* line = src.data + c * src.channel_stride + (y + win.top) * src.row_stride;
        float* dst = out.channel(c) + static_cast<std::size_t>(y) * win.out_w;
        for (int x = x_from; x < x_to; ++x)
          dst[x] = static_cast<float>(line[(x + win.left) * src.col_stride]) * (1.0f / 255.0f);
      }
    return;
  }
  const double sy = static_cast<double>(src.height) / full_h, sx = static_cast<double>(src.width) / full_w;
  ResampleBox box{win.y0 * sy, win.x0 * sx, win.box_h * sy, win.box_w * sx, 0, src.height, 0, src.width};
  if (win.clip_to_box) {
    box.clip_y0 = std::clamp(static_cast<int>(std::floor(box.y0)), 0, src.height - 1);
    box.clip_y1 = std::clamp(static_cast<int>(std::ceil(box.y0 + box.h)), box.clip_y0 + 1, src.height);
    box.clip_x0 = std::clamp(static_cast<int>(std::floor(box.x0)), 0, src.width - 1);
    box.clip_x1 = std::clamp(static_cast<int>(std::ceil(box.x0 + box.w)), box.clip_x0 + 1, src.width);
  }
  resample(src, box, win.out_h, win.out_w, out);
}

/// Python's round(): halves to even (the current rounding mode, which C++ leaves at nearest-even).
inline double round_half_even(double v) noexcept { return std::nearbyint(v); }

/// The stored image as it is.
struct KeepSize {
  ViewWindow plan(int h, int w, Rng&) const noexcept { return {ViewWindow::Kind::shift, h, w}; }
};

/// torchvision's RandomCrop(size, padding): pads every side by `pad` zero pixels and takes a random
/// size window (height/width 0: the image's own).
struct RandomCrop {
  int pad, height, width;
  explicit RandomCrop(int padding, int crop_height = 0, int crop_width = 0)
      : pad(padding), height(crop_height), width(crop_width) {
    if (pad < 0) throw Error("RandomCrop: padding " + std::to_string(pad) + " is negative");
    if (height < 0 || width < 0)
      throw Error("RandomCrop: size " + std::to_string(height) + "x" + std::to_string(width) + " is negative");
  }
  ViewWindow plan(int h, int w, Rng& rng) const {
    const int th = height ? height : h, tw = width ? width : w;
    if (th > h + 2 * pad || tw > w + 2 * pad)
      throw Error("RandomCrop: a " + std::to_string(th) + "x" + std::to_string(tw) + " crop does not fit a " +
                  std::to_string(h) + "x" + std::to_string(w) + " image padded by " + std::to_string(pad));
    ViewWindow win{ViewWindow::Kind::shift, th, tw};
    win.top = rng.int_between(0, h + 2 * pad - th) - pad;
    win.left = rng.int_between(0, w + 2 * pad - tw) - pad;
    return win;
  }
};

/// torchvision's RandomResizedCrop: a box of `scale` of the area with aspect ratio (w/h) drawn
/// log-uniformly from `ratio`, ten tries, then the centred fallback; resized to out_h × out_w.
struct RandomResizedCrop {
  int out_h, out_w;
  float scale_min, scale_max, ratio_min, ratio_max;
  RandomResizedCrop(int height, int width, float smin = 0.08f, float smax = 1.0f, float rmin = 3.0f / 4.0f,
                    float rmax = 4.0f / 3.0f)
      : out_h(height), out_w(width), scale_min(smin), scale_max(smax), ratio_min(rmin), ratio_max(rmax) {
    if (out_h < 1 || out_w < 1)
      throw Error("RandomResizedCrop: output size " + std::to_string(out_h) + "x" + std::to_string(out_w) + " is empty");
    if (!(scale_min > 0 && scale_min <= scale_max && scale_max <= 1))
      throw Error("RandomResizedCrop: scale range [" + std::to_string(scale_min) + ", " + std::to_string(scale_max) +
                  "] must satisfy 0 < min <= max <= 1");
    if (!(ratio_min > 0 && ratio_min <= ratio_max))
      throw Error("RandomResizedCrop: ratio range [" + std::to_string(ratio_min) + ", " + std::to_string(ratio_max) +
                  "] must satisfy 0 < min <= max");
  }

  /// The crop box (top, left, height, width) for an h × w image, drawn as torchvision draws it.
  struct Box {
    int top, left, height, width;
  };
  Box draw(int h, int w, Rng& rng) const {
    const double area = static_cast<double>(h) * w;
    const double log_rmin = std::log(ratio_min), log_rmax = std::log(ratio_max);
    for (int attempt = 0; attempt < 10; ++attempt) {
      const double target = area * rng.uniform(scale_min, scale_max);
      const double aspect = std::exp(log_rmin + (log_rmax - log_rmin) * rng.uniform());
      const int cw = static_cast<int>(round_half_even(std::sqrt(target * aspect)));
      const int ch = static_cast<int>(round_half_even(std::sqrt(target / aspect)));
      if (cw > 0 && cw <= w && ch > 0 && ch <= h)
        return {rng.int_between(0, h - ch), rng.int_between(0, w - cw), ch, cw};
    }
    // Fallback: the whole image, or its largest centred part whose aspect ratio is in range.
    const double in_ratio = static_cast<double>(w) / h;
    int cw = w, ch = h;
    if (in_ratio < ratio_min) ch = static_cast<int>(round_half_even(w / static_cast<double>(ratio_min)));
    else if (in_ratio > ratio_max) cw = static_cast<int>(round_half_even(h * static_cast<double>(ratio_max)));
    ch = std::clamp(ch, 1, h);
    cw = std::clamp(cw, 1, w);
    return {(h - ch) / 2, (w - cw) / 2, ch, cw};
  }

  ViewWindow plan(int h, int w, Rng& rng) const {
    const Box b = draw(h, w, rng);
    ViewWindow win{ViewWindow::Kind::resample, out_h, out_w};
    win.y0 = b.top;
    win.x0 = b.left;
    win.box_h = b.height;
    win.box_w = b.width;
    win.clip_to_box = true;
    return win;
  }
};

/// torchvision's Resize(resize) + CenterCrop(crop): the shorter side scaled to `resize` (the longer
/// one to int(resize · long / short)), then the centred crop_h × crop_w window — evaluation's view.
struct ResizeCenterCrop {
  int resize, crop_h, crop_w;
  ResizeCenterCrop(int shorter_side, int crop_height, int crop_width)
      : resize(shorter_side), crop_h(crop_height), crop_w(crop_width) {
    if (crop_h < 1 || crop_w < 1 || resize < std::max(crop_h, crop_w))
      throw Error("ResizeCenterCrop: crop " + std::to_string(crop_h) + "x" + std::to_string(crop_w) +
                  " must be non-empty and no larger than the resized shorter side " + std::to_string(resize));
  }
  ViewWindow plan(int h, int w, Rng&) const noexcept {
    const bool tall = w <= h;
    const int shorter = tall ? w : h, longer = tall ? h : w;
    const int new_long = static_cast<int>(static_cast<double>(resize) * longer / shorter);
    const int new_h = tall ? new_long : resize, new_w = tall ? resize : new_long;
    const int top = static_cast<int>(round_half_even((new_h - crop_h) / 2.0));
    const int left = static_cast<int>(round_half_even((new_w - crop_w) / 2.0));
    const double sy = static_cast<double>(h) / new_h, sx = static_cast<double>(w) / new_w;
    ViewWindow win{ViewWindow::Kind::resample, crop_h, crop_w};
    win.y0 = top * sy;
    win.x0 = left * sx;
    win.box_h = crop_h * sy;
    win.box_w = crop_w * sx;
    win.clip_to_box = false;
    return win;
  }
};

/// The first step of a view.
using Geometry = std::variant<KeepSize, RandomCrop, RandomResizedCrop, ResizeCenterCrop>;

inline ViewWindow plan_window(const Geometry& g, int h, int w, Rng& rng) {
  return std::visit([&](const auto& op) { return op.plan(h, w, rng); }, g);
}

}  // namespace tspipe::data
