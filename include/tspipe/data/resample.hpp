#pragma once
// Crop and resize in one pass, from stored 8-bit pixels straight to floats in [0, 1].
//
// The filter is the antialiased bilinear (triangle) filter of PIL's Image.resize and of
// torchvision's resize(antialias=True): output pixel i of an axis is centred on source coordinate
// start + (i + ½)·scale, scale = box size / output size; when shrinking, the triangle widens to
// `scale` source pixels so that every source pixel contributes, when enlarging it is ordinary
// bilinear interpolation (align_corners = false). Taps falling outside the allowed range are
// dropped and the rest renormalised — the range is the crop box for crop-then-resize
// (RandomResizedCrop) and the whole image for resize-then-crop (Resize + CenterCrop). The box may
// have fractional corners: that is how a view keeps its geometry on a JPEG decoded at reduced scale.
//
// Separable: one horizontal pass over the rows the box needs (into floats), one vertical pass that
// runs along output rows and vectorises.
#include <tspipe/data/image.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace tspipe::data {

/// The taps of one axis: output i reads source pixels first[i] … first[i] + count[i] − 1 with
/// weights[i·taps …].
struct ResampleAxis {
  std::vector<int> first, count;
  std::vector<float> weights;
  int taps = 0;
};

/// Taps for resampling [start, start + size) of an axis to `out` pixels, reading only [lo, hi);
/// every weight is multiplied by `gain`.
inline void resample_axis(double start, double size, int out, int lo, int hi, float gain, ResampleAxis& axis) {
  const double scale = size / out;
  const double support = std::max(scale, 1.0);  // the triangle's half-width in source pixels
  const double inv = 1.0 / support;
  axis.taps = static_cast<int>(std::ceil(support)) * 2 + 1;
  axis.first.resize(static_cast<std::size_t>(out));
  axis.count.resize(static_cast<std::size_t>(out));
  axis.weights.assign(static_cast<std::size_t>(out) * static_cast<std::size_t>(axis.taps), 0.0f);
  std::vector<double> w(static_cast<std::size_t>(axis.taps));
  for (int i = 0; i < out; ++i) {
    const double centre = start + (i + 0.5) * scale;
    int from = std::max(static_cast<int>(std::floor(centre - support + 0.5)), lo);
    int to = std::min(static_cast<int>(std::floor(centre + support + 0.5)), hi);
    to = std::min(to, from + axis.taps);
    double total = 0;
    for (int j = from; j < to; ++j) {
      const double d = std::abs((j - centre + 0.5) * inv);
      w[static_cast<std::size_t>(j - from)] = d < 1.0 ? 1.0 - d : 0.0;
      total += w[static_cast<std::size_t>(j - from)];
    }
    if (!(total > 0)) {  // a box reaching past the image by rounding: take the nearest pixel
      from = std::clamp(static_cast<int>(std::floor(centre)), lo, hi - 1);
      to = from + 1;
      w[0] = total = 1.0;
    }
    axis.first[static_cast<std::size_t>(i)] = from;
    axis.count[static_cast<std::size_t>(i)] = to - from;
    float* dst = axis.weights.data() + static_cast<std::size_t>(i) * static_cast<std::size_t>(axis.taps);
    for (int j = 0; j < to - from; ++j) dst[j] = static_cast<float>(w[static_cast<std::size_t>(j)] / total) * gain;
  }
}

/// An axis-aligned box of source pixels and the range its filter taps may read.
struct ResampleBox {
  double y0 = 0, x0 = 0, h = 0, w = 0;
  int clip_y0 = 0, clip_y1 = 0, clip_x0 = 0, clip_x1 = 0;  // [clip_y0, clip_y1) × [clip_x0, clip_x1)
};

/// `box` of `src` resampled to out_h × out_w floats in [0, 1], written into `out`.
inline void resample(const PixelView& src, const ResampleBox& box, int out_h, int out_w, Image& out) {
  thread_local ResampleAxis ax, ay;
  thread_local std::vector<float> rows;
  resample_axis(box.x0, box.w, out_w, box.clip_x0, box.clip_x1, 1.0f / 255.0f, ax);
  resample_axis(box.y0, box.h, out_h, box.clip_y0, box.clip_y1, 1.0f, ay);
  const int row_lo = ay.first.front(), row_hi = ay.first.back() + ay.count.back();
  const int nrows = row_hi - row_lo;
  const int channels = src.channels;
  rows.resize(static_cast<std::size_t>(channels) * static_cast<std::size_t>(nrows) * static_cast<std::size_t>(out_w));
  out.reshape(channels, out_h, out_w);

  // Horizontal: the needed source rows, each to out_w floats.
  const std::ptrdiff_t cs = src.col_stride;
  for (int c = 0; c < channels; ++c)
    for (int r = 0; r < nrows; ++r) {
      const std::uint8_t* line = src.data + c * src.channel_stride + (row_lo + r) * src.row_stride;
      float* dst = rows.data() + (static_cast<std::size_t>(c) * nrows + r) * out_w;
      for (int x = 0; x < out_w; ++x) {
        const float* wx = ax.weights.data() + static_cast<std::size_t>(x) * ax.taps;
        const std::uint8_t* p = line + ax.first[static_cast<std::size_t>(x)] * cs;
        float acc = 0;
        for (int k = 0; k < ax.count[static_cast<std::size_t>(x)]; ++k) acc += wx[k] * static_cast<float>(p[k * cs]);
        dst[x] = acc;
      }
    }
  // Vertical: each output row a weighted sum of whole intermediate rows.
  for (int c = 0; c < channels; ++c)
    for (int y = 0; y < out_h; ++y) {
      float* dst = out.channel(c) + static_cast<std::size_t>(y) * out_w;
      const float* wy = ay.weights.data() + static_cast<std::size_t>(y) * ay.taps;
      const float* base = rows.data() + (static_cast<std::size_t>(c) * nrows + (ay.first[static_cast<std::size_t>(y)] - row_lo)) * out_w;
      const float w0 = wy[0];
      for (int x = 0; x < out_w; ++x) dst[x] = w0 * base[x];
      for (int k = 1; k < ay.count[static_cast<std::size_t>(y)]; ++k) {
        const float wk = wy[k];
        const float* line = base + static_cast<std::size_t>(k) * out_w;
        for (int x = 0; x < out_w; ++x) dst[x] += wk * line[x];
      }
    }
}

}  // namespace tspipe::data
