#pragma once
// PNG through libpng: the size from the IHDR chunk alone, decoding to 8-bit RGB, and encoding
// (tests and benchmarks). Needs libpng (Debian: libpng-dev): link PNG::PNG.
//
// Decoding follows what torchvision's ImageFolder gets from PIL's convert("RGB"): palettes and
// greyscale expand to RGB, alpha is dropped (not blended), 16-bit samples keep their high byte,
// and no gamma correction is applied.
//
// libpng reports errors by longjmp. The functions that call setjmp hold no object with a
// destructor, so jumping out of libpng skips nothing; they return false and the C++ wrappers throw.
#include <tspipe/data/image.hpp>
#include <tspipe/data/jpeg.hpp>  // ImageHeader, default_max_image_pixels, check_image_size
#include <tspipe/error.hpp>

#include <png.h>

#include <csetjmp>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::data {

namespace detail {

/// What libpng's callbacks share with the decoder or encoder.
struct PngIo {
  const std::uint8_t* data = nullptr;  // reading: the file
  std::size_t size = 0, pos = 0;
  std::vector<std::uint8_t>* sink = nullptr;  // writing: the encoded bytes
  char message[256] = {};
};

inline void png_fail(png_structp png, png_const_charp message) {
  auto* io = static_cast<PngIo*>(png_get_error_ptr(png));
  std::snprintf(io->message, sizeof io->message, "%s", message);
  png_longjmp(png, 1);
}
inline void png_ignore_warning(png_structp, png_const_charp) {}

inline void png_read_from_memory(png_structp png, png_bytep dst, std::size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  if (n > io->size - io->pos) png_error(png, "truncated: the file ends before the image does");
  std::memcpy(dst, io->data + io->pos, n);
  io->pos += n;
}

inline void png_write_to_vector(png_structp png, png_bytep src, std::size_t n) {
  auto* io = static_cast<PngIo*>(png_get_io_ptr(png));
  bool failed = false;  // no exception may cross libpng's C frames, and no longjmp may leave a catch block
  try {
    io->sink->insert(io->sink->end(), src, src + n);
  } catch (...) {
    failed = true;
  }
  if (failed) png_error(png, "out of memory");
}
inline void png_flush_nothing(png_structp) {}

/// Reads the image into `out` as RGB; false after a libpng error or a refused size (message in io).
inline bool png_decode_rgb(png_structp png, png_infop info, PngIo* io, std::int64_t max_pixels,
                           std::vector<std::uint8_t>* out, int* width, int* height) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_read_fn(png, io, png_read_from_memory);
  png_read_info(png, info);
  const png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
  if (static_cast<std::int64_t>(w) * static_cast<std::int64_t>(h) > max_pixels) {
    std::snprintf(io->message, sizeof io->message, "image of %ux%u pixels is larger than the limit of %lld pixels",
                  static_cast<unsigned>(w), static_cast<unsigned>(h), static_cast<long long>(max_pixels));
    return false;
  }
  png_set_expand(png);       // palette -> RGB, grey below 8 bits -> 8 bits, tRNS -> alpha
  png_set_strip_16(png);     // 16-bit samples -> their high byte
  png_set_strip_alpha(png);  // drop alpha, as convert("RGB") does
  png_set_gray_to_rgb(png);
  const int passes = png_set_interlace_handling(png);
  png_read_update_info(png, info);
  if (png_get_rowbytes(png, info) != static_cast<std::size_t>(w) * 3) png_error(png, "unexpected row layout");
  out->resize(static_cast<std::size_t>(w) * static_cast<std::size_t>(h) * 3);
  for (int pass = 0; pass < passes; ++pass)
    for (png_uint_32 y = 0; y < h; ++y) png_read_row(png, out->data() + static_cast<std::size_t>(y) * w * 3, nullptr);
  png_read_end(png, nullptr);  // checks the chunks after the image data, up to IEND
  *width = static_cast<int>(w);
  *height = static_cast<int>(h);
  return true;
}

/// Writes packed 8-bit rows (1 or 3 channels) as a PNG into io->sink; false after a libpng error.
inline bool png_encode_rows(png_structp png, png_infop info, PngIo* io, const std::uint8_t* packed, int width,
                            int height, int channels) {
  if (setjmp(png_jmpbuf(png))) return false;
  png_set_write_fn(png, io, png_write_to_vector, png_flush_nothing);
  png_set_IHDR(png, info, static_cast<png_uint_32>(width), static_cast<png_uint_32>(height), 8,
               channels == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  png_write_info(png, info);
  for (int y = 0; y < height; ++y)
    png_write_row(png, packed + static_cast<std::size_t>(y) * static_cast<std::size_t>(width) * channels);
  png_write_end(png, nullptr);
  return true;
}

}  // namespace detail

inline constexpr std::uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

/// True when `bytes` start with the PNG signature.
inline bool is_png(std::span<const std::uint8_t> bytes) noexcept {
  return bytes.size() >= 8 && std::memcmp(bytes.data(), png_signature, 8) == 0;
}

/// The size in a PNG's IHDR chunk (which must come first); `source` names it in errors.
inline ImageHeader png_header(std::span<const std::uint8_t> bytes, std::string_view source,
                              std::int64_t max_pixels = default_max_image_pixels) {
  const std::string name(source);
  if (!is_png(bytes)) throw Error(name + ": bad magic: not a PNG file (no PNG signature)");
  if (bytes.size() < 24) throw Error(name + ": truncated PNG: " + std::to_string(bytes.size()) + " bytes end inside the header");
  if (std::memcmp(bytes.data() + 12, "IHDR", 4) != 0) throw Error(name + ": corrupt PNG: the first chunk is not IHDR");
  auto be32 = [&](std::size_t at) {
    return (std::int64_t{bytes[at]} << 24) | (std::int64_t{bytes[at + 1]} << 16) | (std::int64_t{bytes[at + 2]} << 8) |
           std::int64_t{bytes[at + 3]};
  };
  const std::int64_t width = be32(16), height = be32(20);
  detail::check_image_size(source, "PNG", width, height, max_pixels);
  return {static_cast<int>(width), static_cast<int>(height)};
}

/// Decodes a PNG to interleaved RGB in `out`. Corrupt or truncated data is an Error naming `source`.
inline PixelView decode_png(std::span<const std::uint8_t> bytes, std::string_view source, std::vector<std::uint8_t>& out,
                            std::int64_t max_pixels = default_max_image_pixels) {
  png_header(bytes, source, max_pixels);
  detail::PngIo io;
  io.data = bytes.data();
  io.size = bytes.size();
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &io, detail::png_fail, detail::png_ignore_warning);
  if (!png) throw Error(std::string(source) + ": cannot create a libpng reader");
  png_infop info = png_create_info_struct(png);
  int width = 0, height = 0;
  const bool ok = info && detail::png_decode_rgb(png, info, &io, max_pixels, &out, &width, &height);
  png_destroy_read_struct(&png, info ? &info : nullptr, nullptr);
  if (!ok) throw Error(std::string(source) + ": corrupt or truncated PNG: " + (info ? io.message : "out of memory"));
  return PixelView::interleaved(out.data(), 3, height, width);
}

/// Encodes 1- or 3-channel pixels as an 8-bit PNG.
inline std::vector<std::uint8_t> encode_png(const PixelView& image) {
  if (image.channels != 1 && image.channels != 3)
    throw Error("encode_png: " + std::to_string(image.channels) + " channels; this writer takes 1 or 3");
  std::vector<std::uint8_t> packed;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      for (int c = 0; c < image.channels; ++c) packed.push_back(image.at(c, y, x));
  std::vector<std::uint8_t> encoded;
  detail::PngIo io;
  io.sink = &encoded;
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &io, detail::png_fail, detail::png_ignore_warning);
  if (!png) throw Error("encode_png: cannot create a libpng writer");
  png_infop info = png_create_info_struct(png);
  const bool ok = info && detail::png_encode_rows(png, info, &io, packed.data(), image.width, image.height, image.channels);
  png_destroy_write_struct(&png, info ? &info : nullptr);
  if (!ok) throw Error(std::string("encode_png: ") + (info ? io.message : "out of memory"));
  return encoded;
}

}  // namespace tspipe::data
