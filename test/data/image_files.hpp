#pragma once
// Image files the tests write themselves: JPEGs and PNGs through the codecs' own encoders, CIFAR
// and STL-10 binaries record by record, and image folders of them.
#include "idx_files.hpp"

#include <tspipe/data/image.hpp>
#include <tspipe/data/jpeg.hpp>
#include <tspipe/data/png.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tspipe::data::testing {

/// Interleaved RGB h×w: smooth ramps that fold back at the ends (so JPEG keeps them well), a
/// different one per seed, in [16, 239].
inline std::vector<std::uint8_t> test_rgb(int h, int w, int seed) {
  std::vector<std::uint8_t> px(static_cast<std::size_t>(h) * static_cast<std::size_t>(w) * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int t = (x * (2 + c) + y * (4 - c) + seed * 37) % 446;  // 0 .. 445
        px[(static_cast<std::size_t>(y) * w + x) * 3 + static_cast<std::size_t>(c)] =
            static_cast<std::uint8_t>(16 + (t < 223 ? t : 445 - t));
      }
  return px;
}

inline void write_jpeg(const std::filesystem::path& path, const std::vector<std::uint8_t>& rgb, int h, int w,
                       int quality = 95) {
  write_raw(path, encode_jpeg(PixelView::interleaved(rgb.data(), 3, h, w), quality));
}

inline void write_png(const std::filesystem::path& path, const std::vector<std::uint8_t>& rgb, int h, int w) {
  write_raw(path, encode_png(PixelView::interleaved(rgb.data(), 3, h, w)));
}

/// CIFAR records: `labels.size()` images, record i with label bytes `labels[i]` (one byte for
/// CIFAR-10, coarse then fine for CIFAR-100) and pixel k = (i·31 + k) mod 256.
inline std::vector<std::uint8_t> cifar_bytes(const std::vector<std::vector<std::uint8_t>>& labels) {
  std::vector<std::uint8_t> out;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    out.insert(out.end(), labels[i].begin(), labels[i].end());
    for (int k = 0; k < 3072; ++k) out.push_back(static_cast<std::uint8_t>((i * 31 + static_cast<std::size_t>(k)) % 256));
  }
  return out;
}

/// STL-10 images as stored: `count` records of 3·96·96 bytes; byte k of record i is (i + k·7) mod 251.
inline std::vector<std::uint8_t> stl10_bytes(int count) {
  std::vector<std::uint8_t> out(static_cast<std::size_t>(count) * 27648);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::uint8_t>((i / 27648 + (i % 27648) * 7) % 251);
  return out;
}

}  // namespace tspipe::data::testing
