#pragma once
// Encoded images by content, not by file name: the format is sniffed from the first bytes (a PNG
// named .jpg decodes as a PNG, as PIL would open it), and anything else is an error that names the
// file and shows how it starts.
#include <tspipe/data/image.hpp>
#include <tspipe/data/jpeg.hpp>
#include <tspipe/data/png.hpp>
#include <tspipe/error.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::data {

enum class ImageFormat { unknown, jpeg, png };

inline ImageFormat sniff_image_format(std::span<const std::uint8_t> bytes) noexcept {
  if (is_jpeg(bytes)) return ImageFormat::jpeg;
  if (is_png(bytes)) return ImageFormat::png;
  return ImageFormat::unknown;
}

namespace detail {

[[noreturn]] inline void throw_not_an_image(std::span<const std::uint8_t> bytes, std::string_view source) {
  std::string start;
  for (std::size_t i = 0; i < bytes.size() && i < 8; ++i) {
    char hex[4];
    std::snprintf(hex, sizeof hex, " %02x", bytes[i]);
    start += hex;
  }
  throw Error(std::string(source) + ": bad magic: not a JPEG or PNG file (" +
              (bytes.empty() ? std::string("empty") : std::to_string(bytes.size()) + " bytes starting" + start) + ")");
}

}  // namespace detail

/// The size an encoded JPEG or PNG declares.
inline ImageHeader read_image_header(std::span<const std::uint8_t> bytes, std::string_view source,
                                     std::int64_t max_pixels = default_max_image_pixels) {
  switch (sniff_image_format(bytes)) {
    case ImageFormat::jpeg: return jpeg_header(bytes, source, max_pixels);
    case ImageFormat::png: return png_header(bytes, source, max_pixels);
    case ImageFormat::unknown: break;
  }
  detail::throw_not_an_image(bytes, source);
}

/// Decodes a JPEG or PNG to interleaved RGB in `out`. `shrink` (1, 2, 4, 8) lets a JPEG come back
/// that many times smaller (rounded up); PNGs always come back at full size.
inline PixelView decode_image(std::span<const std::uint8_t> bytes, std::string_view source, int shrink,
                              std::vector<std::uint8_t>& out, std::int64_t max_pixels = default_max_image_pixels) {
  switch (sniff_image_format(bytes)) {
    case ImageFormat::jpeg: return decode_jpeg(bytes, source, shrink, out, max_pixels);
    case ImageFormat::png: return decode_png(bytes, source, out, max_pixels);
    case ImageFormat::unknown: break;
  }
  detail::throw_not_an_image(bytes, source);
}

}  // namespace tspipe::data
