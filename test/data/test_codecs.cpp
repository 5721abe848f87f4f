// JPEG and PNG: round trips through the codecs' own encoders, headers without decoding, reduced
// scale, and every kind of bad file — each an Error that names the file.
#include "image_files.hpp"

#include <tspipe/data/image_codec.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <string>

using namespace tspipe::data;
using namespace tspipe::data::testing;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

double mean_abs_difference(const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
  double sum = 0;
  for (std::size_t i = 0; i < a.size(); ++i) sum += std::abs(int{a[i]} - int{b[i]});
  return sum / static_cast<double>(a.size());
}

/// The format and size `bytes` declare.
void check_header(const std::vector<std::uint8_t>& bytes, ImageFormat format, int height, int width) {
  CHECK(sniff_image_format(bytes) == format);
  CHECK((format == ImageFormat::png ? is_png(bytes) : is_jpeg(bytes)));
  const ImageHeader header = read_image_header(bytes, "x");
  CHECK(header.width == width);
  CHECK(header.height == height);
}

}  // namespace

TEST_CASE("PNG: lossless round trip for RGB and grey, size from the header") {
  const auto rgb = test_rgb(13, 21, 1);
  const auto png = encode_png(PixelView::interleaved(rgb.data(), 3, 13, 21));
  check_header(png, ImageFormat::png, 13, 21);
  std::vector<std::uint8_t> out;
  const PixelView px = decode_image(png, "x.png", 4, out);  // shrink is ignored for PNG
  CHECK(px.height == 13);
  CHECK(px.width == 21);
  CHECK(px.channels == 3);
  CHECK(out == rgb);

  // Grey PNGs decode to three equal channels.
  std::vector<std::uint8_t> grey(6 * 5);
  for (std::size_t i = 0; i < grey.size(); ++i) grey[i] = static_cast<std::uint8_t>(i * 8);
  const auto grey_png = encode_png(PixelView::interleaved(grey.data(), 1, 6, 5));
  const PixelView g = decode_png(grey_png, "g.png", out);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 5; ++x)
      for (int c = 0; c < 3; ++c) CHECK(g.at(c, y, x) == grey[static_cast<std::size_t>(y * 5 + x)]);
}

TEST_CASE("JPEG: near round trip, grey to RGB, decoding at 1/2, 1/4, 1/8 scale") {
  const auto rgb = test_rgb(64, 48, 2);
  const auto jpg = encode_jpeg(PixelView::interleaved(rgb.data(), 3, 64, 48), 98);
  check_header(jpg, ImageFormat::jpeg, 64, 48);
  std::vector<std::uint8_t> out;
  const PixelView full = decode_image(jpg, "x.jpg", 1, out);
  CHECK(full.width == 48);
  CHECK(full.height == 64);
  CHECK(mean_abs_difference(out, rgb) < 2.0);  // quality 98, chroma subsampled

  // Scaled decodes round up: 64×48 / 8 = 8×6; 45×30 / 4 = 12×8 (11.25 and 7.5 rounded up).
  CHECK(decode_jpeg(jpg, "x.jpg", 8, out).width == 6);
  const auto odd = test_rgb(45, 30, 3);
  const auto odd_jpg = encode_jpeg(PixelView::interleaved(odd.data(), 3, 45, 30));
  const PixelView quarter = decode_jpeg(odd_jpg, "odd.jpg", 4, out);
  CHECK(quarter.height == 12);
  CHECK(quarter.width == 8);
  // A half-scale decode is close to the 2×2 means of the full image.
  const PixelView half = decode_jpeg(jpg, "x.jpg", 2, out);
  std::vector<std::uint8_t> half_px(out.begin(), out.end()), means;
  for (int y = 0; y < 32; ++y)
    for (int x = 0; x < 24; ++x)
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = 0; dy < 2; ++dy)
          for (int dx = 0; dx < 2; ++dx) sum += rgb[(static_cast<std::size_t>(2 * y + dy) * 48 + 2 * x + dx) * 3 + c];
        means.push_back(static_cast<std::uint8_t>((sum + 2) / 4));
      }
  CHECK(half.width == 24);
  CHECK(mean_abs_difference(half_px, means) < 3.0);
  CHECK(contains(error_of([&] { decode_jpeg(jpg, "x.jpg", 3, out); }), "shrink factor 3"));

  std::vector<std::uint8_t> grey(16 * 16, 100);
  const auto grey_jpg = encode_jpeg(PixelView::interleaved(grey.data(), 1, 16, 16));
  const PixelView g = decode_jpeg(grey_jpg, "g.jpg", 1, out);
  CHECK(g.channels == 3);
  CHECK(std::abs(int{g.at(0, 5, 5)} - 100) <= 1);
  CHECK(g.at(0, 5, 5) == g.at(2, 5, 5));
}

TEST_CASE("bad image data: each error names the file and what is wrong") {
  const auto rgb = test_rgb(96, 96, 4);  // large enough that half of the file is scan data
  const auto jpg = encode_jpeg(PixelView::interleaved(rgb.data(), 3, 96, 96));
  const auto png = encode_png(PixelView::interleaved(rgb.data(), 3, 96, 96));
  std::vector<std::uint8_t> out;
  auto decode_error = [&](std::vector<std::uint8_t> bytes, const std::string& name) {
    return error_of([&] {
      read_image_header(bytes, name);
      decode_image(bytes, name, 1, out);
    });
  };

  const std::string empty = decode_error({}, "empty.jpg");
  CHECK(contains(empty, "empty.jpg: bad magic: not a JPEG or PNG file (empty)"));
  const std::string text = decode_error({'h', 'e', 'l', 'l', 'o'}, "notes.jpg");
  CHECK(contains(text, "notes.jpg: bad magic"));
  CHECK(contains(text, "68 65 6c"));

  // Truncated: the header survives, the scan data does not.
  const std::string cut_jpg = decode_error({jpg.begin(), jpg.begin() + static_cast<std::ptrdiff_t>(jpg.size() / 2)}, "cut.jpg");
  CHECK(contains(cut_jpg, "cut.jpg: corrupt or truncated JPEG"));
  const std::string cut_png = decode_error({png.begin(), png.begin() + static_cast<std::ptrdiff_t>(png.size() / 2)}, "cut.png");
  CHECK(contains(cut_png, "cut.png: corrupt or truncated PNG"));
  const std::string short_png = decode_error({png.begin(), png.begin() + 16}, "short.png");
  CHECK(contains(short_png, "short.png: truncated PNG"));
  const std::string tail_png = decode_error({png.begin(), png.end() - 12}, "noend.png");  // IEND chunk cut off
  CHECK(contains(tail_png, "noend.png: corrupt or truncated PNG"));

  // Corrupt: bytes overwritten inside the compressed data.
  auto broken_jpg = jpg;
  for (std::size_t i = jpg.size() / 2; i < jpg.size() / 2 + 40; ++i) broken_jpg[i] = 0xff;
  CHECK(contains(decode_error(broken_jpg, "broken.jpg"), "broken.jpg: corrupt"));
  auto broken_png = png;
  broken_png[png.size() / 2] ^= 0x55;  // the IDAT chunk's CRC no longer matches
  CHECK(contains(decode_error(broken_png, "broken.png"), "broken.png: corrupt or truncated PNG"));
  auto bad_header = jpg;
  bad_header[3] = 0x00;  // not a marker after SOI
  CHECK(contains(decode_error(bad_header, "hdr.jpg"), "hdr.jpg: corrupt JPEG header"));

  // A header that claims far more pixels than the limit is refused before anything is allocated.
  auto huge = png;
  huge[16] = huge[17] = huge[20] = huge[21] = 0x7f;  // 2 billion × 2 billion
  CHECK(contains(decode_error(huge, "huge.png"), "huge.png: PNG image of"));
  CHECK(contains(error_of([&] { decode_image(jpg, "big.jpg", 1, out, 100); }), "larger than the limit of 100 pixels"));
}

TEST_CASE("a failed JPEG decode does not spoil the thread's next one") {
  // TurboJPEG 2.1 leaves its instance mid-header after an error; reused, it reported 0×0 for
  // every later image on the thread.
  const auto rgb = test_rgb(40, 40, 5);
  const auto jpg = encode_jpeg(PixelView::interleaved(rgb.data(), 3, 40, 40));
  const std::vector<std::uint8_t> header_only(jpg.begin(), jpg.begin() + 200);
  std::vector<std::uint8_t> out;
  for (int round = 0; round < 3; ++round) {
    CHECK(!error_of([&] { decode_image(header_only, "cut.jpg", 1, out); }).empty());
    CHECK(read_image_header(jpg, "good.jpg").width == 40);
    CHECK(decode_image(jpg, "good.jpg", 1, out).height == 40);
  }
}
