#pragma once
// The two kinds of image the data layer handles.
//
// * PixelView: a read-only look at stored 8-bit pixels in whatever layout they are kept, through a
//   stride per channel, row and column. CIFAR's planar records, STL-10's column-major planes and a
//   decoder's interleaved RGB are all read in place, without a transposing copy.
// * Image: what augmentation works on and what a batch holds — float C×H×W, channel-major then
//   row-major, pixels in [0, 1] until Normalize.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace tspipe::data {

/// One image, channel-major then row-major floats.
struct Image {
  int c = 0, h = 0, w = 0;
  std::vector<float> px;

  Image() = default;
  Image(int channels, int height, int width, float fill = 0.0f)
      : c(channels), h(height), w(width),
        px(static_cast<std::size_t>(channels) * static_cast<std::size_t>(height) * static_cast<std::size_t>(width), fill) {}
  /// Gives the image this shape, reusing its storage (contents unspecified).
  void reshape(int channels, int height, int width) {
    c = channels;
    h = height;
    w = width;
    px.resize(static_cast<std::size_t>(c) * static_cast<std::size_t>(h) * static_cast<std::size_t>(w));
  }
  std::size_t plane() const noexcept { return static_cast<std::size_t>(h) * static_cast<std::size_t>(w); }
  float* channel(int ch) noexcept { return px.data() + static_cast<std::size_t>(ch) * plane(); }
  const float* channel(int ch) const noexcept { return px.data() + static_cast<std::size_t>(ch) * plane(); }
  float& at(int ch, int y, int x) noexcept { return px[(static_cast<std::size_t>(ch) * h + y) * w + x]; }
  float at(int ch, int y, int x) const noexcept { return px[(static_cast<std::size_t>(ch) * h + y) * w + x]; }
};

/// Stored 8-bit pixels: the value of channel c at row y, column x is
/// data[c·channel_stride + y·row_stride + x·col_stride].
struct PixelView {
  const std::uint8_t* data = nullptr;
  int channels = 0, height = 0, width = 0;
  std::ptrdiff_t channel_stride = 0, row_stride = 0, col_stride = 0;

  std::uint8_t at(int c, int y, int x) const noexcept {
    return data[c * channel_stride + y * row_stride + x * col_stride];
  }

  /// C×H×W, row-major planes (IDX, CIFAR).
  static PixelView planar(const std::uint8_t* p, int c, int h, int w) noexcept {
    return {p, c, h, w, std::ptrdiff_t{h} * w, w, 1};
  }
  /// H×W×C, channels interleaved (what JPEG and PNG decoders write).
  static PixelView interleaved(const std::uint8_t* p, int c, int h, int w) noexcept {
    return {p, c, h, w, 1, std::ptrdiff_t{w} * c, c};
  }
  /// C×W×H: each channel plane stored column by column (STL-10).
  static PixelView planar_column_major(const std::uint8_t* p, int c, int h, int w) noexcept {
    return {p, c, h, w, std::ptrdiff_t{h} * w, 1, h};
  }
};

/// The stored pixels as floats in [0, 1], written into `out` (reusing its storage).
inline void to_float_image(const PixelView& src, Image& out) {
  out.reshape(src.channels, src.height, src.width);
  float* dst = out.px.data();
  for (int c = 0; c < src.channels; ++c)
    for (int y = 0; y < src.height; ++y) {
      const std::uint8_t* row = src.data + c * src.channel_stride + y * src.row_stride;
      for (int x = 0; x < src.width; ++x) *dst++ = static_cast<float>(row[x * src.col_stride]) * (1.0f / 255.0f);
    }
}

/// Planar C×H×W bytes as floats in [0, 1].
inline Image to_float_image(std::span<const std::uint8_t> bytes, int c, int h, int w) {
  Image img;
  to_float_image(PixelView::planar(bytes.data(), c, h, w), img);
  return img;
}

}  // namespace tspipe::data
