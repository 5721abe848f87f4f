// Fuzz target for the JPEG/PNG decode path as the loader drives it: header, windows drawn from the
// header's size, decode at the shrink they allow, then views. Bad input must end in tspipe::Error;
// anything else — a crash, a sanitizer report, pixels that disagree with the header — aborts.
#include <tspipe/data/augment.hpp>
#include <tspipe/data/image_codec.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

namespace {

using namespace tspipe::data;

// Small enough that a forged header costs the fuzzer little memory, large enough for real seeds.
constexpr std::int64_t max_pixels = std::int64_t{1} << 20;

void exercise(std::span<const std::uint8_t> bytes, int view_size) {
  const ImageHeader header = read_image_header(bytes, "fuzz input", max_pixels);
  if (header.width < 1 || header.height < 1 || std::int64_t{header.width} * header.height > max_pixels) std::abort();
  // Two views as the loader would draw them, then the decode they allow.
  const MultiView views = byol_views(imagenet_normalization(), view_size);
  std::vector<Rng> rngs{Rng(1), Rng(2)};
  std::vector<ViewWindow> windows;
  int shrink = 8;
  for (int v = 0; v < 2; ++v) {
    windows.push_back(views.views[static_cast<std::size_t>(v)].plan(header.height, header.width, rngs[static_cast<std::size_t>(v)]));
    shrink = std::min(shrink, windows.back().max_shrink());
  }
  std::vector<std::uint8_t> pixels;
  const PixelView px = decode_image(bytes, "fuzz input", shrink, pixels, max_pixels);
  const int expect_h = is_jpeg(bytes) ? (header.height + shrink - 1) / shrink : header.height;
  const int expect_w = is_jpeg(bytes) ? (header.width + shrink - 1) / shrink : header.width;
  if (px.channels != 3 || px.height != expect_h || px.width != expect_w ||
      pixels.size() != static_cast<std::size_t>(expect_h) * static_cast<std::size_t>(expect_w) * 3)
    std::abort();
  Image view;
  for (int v = 0; v < 2; ++v) {
    views.views[static_cast<std::size_t>(v)].finish(px, windows[static_cast<std::size_t>(v)], header.height, header.width,
                                                    rngs[static_cast<std::size_t>(v)], view);
    if (view.c != 3 || view.h != view_size || view.w != view_size) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> bytes(data, size);
  // The last byte picks the view size, so that both enlarging and shrinking (and decoding at
  // 1/2 .. 1/8 scale) are reached from the same seeds.
  const int view_size = size ? 4 + data[size - 1] % 29 : 8;
  try {
    exercise(bytes, view_size);
  } catch (const tspipe::Error&) {
  }
  return 0;
}
