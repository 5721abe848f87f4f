#pragma once
// JPEG through libjpeg-turbo's TurboJPEG API: the size from the header alone, decoding to RGB —
// optionally scaled down by 2, 4 or 8 inside the inverse DCT, which skips most of a decode's work
// when the crop that follows needs fewer pixels — and encoding (tests, benchmarks, writing image
// folders). Needs libturbojpeg (Debian: libturbojpeg0-dev): link TurboJPEG::TurboJPEG.
#include <tspipe/data/image.hpp>
#include <tspipe/error.hpp>

#include <turbojpeg.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::data {

/// Width and height of an encoded image, read from its header.
struct ImageHeader {
  int width = 0, height = 0;
};

/// Images with more pixels than this are refused before anything is allocated: a few header bytes
/// can claim 65535×65535. 2^26 pixels is 8192×8192.
inline constexpr std::int64_t default_max_image_pixels = std::int64_t{1} << 26;

namespace detail {

/// A TurboJPEG instance, destroyed with its owner.
class TurboJpegHandle {
 public:
  explicit TurboJpegHandle(tjhandle h) : handle_(h) {
    if (!handle_) throw Error(std::string("TurboJPEG: cannot create an instance: ") + tjGetErrorStr2(nullptr));
  }
  ~TurboJpegHandle() { tjDestroy(handle_); }
  TurboJpegHandle(const TurboJpegHandle&) = delete;
  TurboJpegHandle& operator=(const TurboJpegHandle&) = delete;
  tjhandle get() const noexcept { return handle_; }
  std::string error() const { return tjGetErrorStr2(handle_); }

 private:
  tjhandle handle_;
};

/// This thread's decompressor: an instance must not be used by two threads at once, and creating
/// one per image would cost more than decoding a small one.
inline std::unique_ptr<TurboJpegHandle>& thread_jpeg_slot() {
  thread_local std::unique_ptr<TurboJpegHandle> handle;
  return handle;
}
inline const TurboJpegHandle& thread_jpeg_decompressor() {
  auto& slot = thread_jpeg_slot();
  if (!slot) slot = std::make_unique<TurboJpegHandle>(tjInitDecompress());
  return *slot;
}

/// The decompressor's message for a failed call, after which the instance is dropped: TurboJPEG
/// 2.1 leaves it mid-header after an error, and its next header call then reports success with a
/// 0×0 image.
inline std::string take_jpeg_error() {
  auto& slot = thread_jpeg_slot();
  std::string message = slot ? slot->error() : "no decompressor";
  slot.reset();
  return message;
}

inline void check_image_size(std::string_view source, const char* format, std::int64_t width, std::int64_t height,
                             std::int64_t max_pixels) {
  if (width < 1 || height < 1)
    throw Error(std::string(source) + ": " + format + " header gives an empty image (" + std::to_string(width) + "x" +
                std::to_string(height) + ")");
  if (width > max_pixels / height)  // width · height > max_pixels, without overflowing for 2^32 − 1 squared
    throw Error(std::string(source) + ": " + format + " image of " + std::to_string(width) + "x" +
                std::to_string(height) + " pixels is larger than the limit of " + std::to_string(max_pixels) +
                " pixels");
}

}  // namespace detail

/// True when `bytes` start like a JPEG (the SOI marker and the start of the next marker).
inline bool is_jpeg(std::span<const std::uint8_t> bytes) noexcept {
  return bytes.size() >= 3 && bytes[0] == 0xff && bytes[1] == 0xd8 && bytes[2] == 0xff;
}

/// The size a JPEG declares; `source` names it in errors.
inline ImageHeader jpeg_header(std::span<const std::uint8_t> bytes, std::string_view source,
                               std::int64_t max_pixels = default_max_image_pixels) {
  const auto& tj = detail::thread_jpeg_decompressor();
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(tj.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), &width, &height,
                          &subsampling, &colorspace) != 0)
    throw Error(std::string(source) + ": corrupt JPEG header: " + detail::take_jpeg_error());
  if (colorspace == TJCS_CMYK || colorspace == TJCS_YCCK)
    throw Error(std::string(source) + ": CMYK JPEG; only greyscale and colour (YCbCr/RGB) JPEGs are decoded");
  detail::check_image_size(source, "JPEG", width, height, max_pixels);
  return {width, height};
}

/// Decodes a JPEG to interleaved RGB in `out` (greyscale JPEGs become three equal channels, as
/// PIL's convert("RGB") gives), `shrink` (1, 2, 4 or 8) times smaller, rounded up. Corrupt or
/// truncated data is an Error naming `source`, also where libjpeg would only warn and fill in grey.
inline PixelView decode_jpeg(std::span<const std::uint8_t> bytes, std::string_view source, int shrink,
                             std::vector<std::uint8_t>& out, std::int64_t max_pixels = default_max_image_pixels) {
  if (shrink != 1 && shrink != 2 && shrink != 4 && shrink != 8)
    throw Error(std::string(source) + ": JPEG shrink factor " + std::to_string(shrink) + " is not 1, 2, 4 or 8");
  const ImageHeader header = jpeg_header(bytes, source, max_pixels);
  const tjscalingfactor factor{1, shrink};
  const int width = TJSCALED(header.width, factor), height = TJSCALED(header.height, factor);
  out.resize(static_cast<std::size_t>(width) * static_cast<std::size_t>(height) * 3);
  const auto& tj = detail::thread_jpeg_decompressor();
  // LIMITSCANS: a progressive JPEG of a few bytes can otherwise ask for millions of scans.
  if (tjDecompress2(tj.get(), bytes.data(), static_cast<unsigned long>(bytes.size()), out.data(), width, 0, height,
                    TJPF_RGB, TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS) != 0)
    throw Error(std::string(source) + ": corrupt or truncated JPEG: " + detail::take_jpeg_error());
  return PixelView::interleaved(out.data(), 3, height, width);
}

/// Encodes 1- or 3-channel pixels as a baseline JPEG (4:2:0 chroma for colour, as PIL saves).
inline std::vector<std::uint8_t> encode_jpeg(const PixelView& image, int quality = 90) {
  if (image.channels != 1 && image.channels != 3)
    throw Error("encode_jpeg: " + std::to_string(image.channels) + " channels; JPEG takes 1 or 3");
  if (quality < 1 || quality > 100) throw Error("encode_jpeg: quality " + std::to_string(quality) + " is not in 1..100");
  std::vector<std::uint8_t> packed;
  packed.reserve(static_cast<std::size_t>(image.channels) * static_cast<std::size_t>(image.height) *
                 static_cast<std::size_t>(image.width));
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x)
      for (int c = 0; c < image.channels; ++c) packed.push_back(image.at(c, y, x));
  const detail::TurboJpegHandle tj(tjInitCompress());
  unsigned char* jpeg = nullptr;
  unsigned long size = 0;
  const bool colour = image.channels == 3;
  const int rc = tjCompress2(tj.get(), packed.data(), image.width, 0, image.height, colour ? TJPF_RGB : TJPF_GRAY,
                             &jpeg, &size, colour ? TJSAMP_420 : TJSAMP_GRAY, quality, 0);
  std::vector<std::uint8_t> encoded;
  if (rc == 0) encoded.assign(jpeg, jpeg + size);
  tjFree(jpeg);
  if (rc != 0) throw Error("encode_jpeg: " + tj.error());
  return encoded;
}

}  // namespace tspipe::data
