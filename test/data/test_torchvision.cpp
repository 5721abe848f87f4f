// Each deterministic operation against torchvision.transforms.functional on the same image, the
// JPEG decode against PIL's, the image-folder listing against torchvision's ImageFolder, and
// STL-10's layout against torchvision's reader. Skips (exit 77, CTest: skipped) with a message where
// python3-torchvision is not installed.
//
// Tolerance: max |ours − torchvision| <= 2e-6 on values in [0, 1] (Normalize, whose values reach
// 4.5: 1e-5), i.e. float32 rounding — one grey level is 1/255 = 3.9e-3. Differences come from sums
// run in another order (separable blur against torchvision's 2-D kernel, resampling weights
// computed in double, x · (1/255) against x / 255), never from other formulas; measured: at most
// 6e-7. Decoded pixels, file lists and the STL-10 layout must match exactly.
#include "image_files.hpp"

#include <tspipe/data/augment.hpp>
#include <tspipe/data/image_codec.hpp>
#include <tspipe/data/image_folder.hpp>
#include <tspipe/data/stl10.hpp>

#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>

using namespace tspipe::data;
using namespace tspipe::data::testing;
namespace fs = std::filesystem;

namespace {

bool torchvision_available() {
  const std::string cmd = std::string(TSPIPE_PYTHON) + " -c 'import torchvision' > /dev/null 2>&1";
  return std::system(cmd.c_str()) == 0;
}

template <class T>
std::vector<T> read_array(const fs::path& path, std::size_t count) {
  std::vector<T> v(count);
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "torchvision wrote no " << path);
  in.read(reinterpret_cast<char*>(v.data()), static_cast<std::streamsize>(count * sizeof(T)));
  REQUIRE_MESSAGE(in.gcount() == static_cast<std::streamsize>(count * sizeof(T)), path << " is too short");
  return v;
}

struct Case {
  std::string name, line;  // line: "OP ARGS..." for the script
  std::function<Image(const PixelView&, const Image&)> ours;
  double tolerance = 2e-6;
};

}  // namespace

TEST_CASE("deterministic operations, decoding and listing agree with torchvision") {
  if (!torchvision_available()) {
    MESSAGE("skipped: python3-torchvision is not installed (apt-get install python3-torchvision)");
    std::exit(77);
  }
  TempDir dir;
  constexpr int H = 37, W = 53;
  std::vector<std::uint8_t> rgb = test_rgb(H, W, 7);
  for (std::size_t i = 0; i < rgb.size(); ++i) rgb[i] = static_cast<std::uint8_t>(rgb[i] + (i * 7919 % 13));  // texture
  write_png(dir / "input.png", rgb, H, W);
  const PixelView src = PixelView::interleaved(rgb.data(), 3, H, W);
  Image base;
  to_float_image(src, base);

  auto window = [](const PixelView& s, const ViewWindow& w) {
    Image out;
    render_window(s, w, s.height, s.width, out);
    return out;
  };
  auto resample_case = [&](int top, int left, int h, int w, int oh, int ow) {
    return [=](const PixelView& s, const Image&) {
      ViewWindow win{ViewWindow::Kind::resample, oh, ow};
      win.y0 = top;
      win.x0 = left;
      win.box_h = h;
      win.box_w = w;
      return window(s, win);
    };
  };
  auto on_floats = [](std::function<void(Image&)> f) {
    return [f](const PixelView&, const Image& img) {
      Image out = img;
      f(out);
      return out;
    };
  };
  Rng unused(0);
  const std::vector<Case> cases{
      {"shrink", "resized_crop 3 5 30 40 12 17", resample_case(3, 5, 30, 40, 12, 17)},
      {"enlarge", "resized_crop 10 20 9 12 24 31", resample_case(10, 20, 9, 12, 24, 31)},
      {"mixed", "resized_crop 0 0 37 53 50 20", resample_case(0, 0, 37, 53, 50, 20)},
      {"resize_crop", "resize_center_crop 30 24",
       [&](const PixelView& s, const Image&) { return window(s, ResizeCenterCrop(30, 24, 24).plan(H, W, unused)); }},
      {"pad_crop", "pad_crop 4 2 7 37 53",
       [&](const PixelView& s, const Image&) {
         ViewWindow w{ViewWindow::Kind::shift, H, W};
         w.top = 2 - 4;
         w.left = 7 - 4;
         return window(s, w);
       }},
      {"hflip", "hflip", on_floats([](Image& i) { flip_horizontal(i); })},
      {"brightness", "brightness 1.3", on_floats([](Image& i) { adjust_brightness(i, 1.3f); })},
      {"contrast", "contrast 0.6", on_floats([](Image& i) { adjust_contrast(i, 0.6f); })},
      {"contrast_up", "contrast 1.8", on_floats([](Image& i) { adjust_contrast(i, 1.8f); })},
      {"saturation", "saturation 1.7", on_floats([](Image& i) { adjust_saturation(i, 1.7f); })},
      {"hue", "hue 0.23", on_floats([](Image& i) { adjust_hue(i, 0.23f); })},
      {"hue_negative", "hue -0.4", on_floats([](Image& i) { adjust_hue(i, -0.4f); })},
      {"grayscale", "grayscale", on_floats([](Image& i) { to_grayscale(i); })},
      {"blur23", "blur 23 1.3", on_floats([](Image& i) { gaussian_blur(i, 23, 1.3f); })},
      {"blur5", "blur 5 0.7", on_floats([](Image& i) { gaussian_blur(i, 5, 0.7f); })},
      {"solarize", "solarize 0.5", on_floats([](Image& i) { solarize(i, 0.5f); })},
      {"normalize", "normalize 0.485 0.456 0.406 0.229 0.224 0.225",
       on_floats([](Image& i) {
         Rng r(0);
         const Normalize normalize{imagenet_normalization()};
         normalize(i, r);
       }),
       1e-5},
  };
  {
    std::ofstream list(dir / "cases.txt");
    for (const Case& c : cases) list << c.name << ' ' << c.line << '\n';
  }

  // JPEG: PIL decodes through libjpeg-turbo with the same defaults (accurate DCT, fancy upsampling).
  write_jpeg(dir / "input.jpg", rgb, H, W, 90);
  // Folder: classes and files in torchvision's order (the extension check is case-insensitive there too).
  for (const char* cls : {"b", "A", "a_", "a", "Z"}) {
    fs::create_directories(dir / "folder" / cls / "deeper");
    write_png(dir / "folder" / cls / "2.png", test_rgb(4, 4, 1), 4, 4);
    write_png(dir / "folder" / cls / "10.PNG", test_rgb(4, 4, 2), 4, 4);
    write_jpeg(dir / "folder" / cls / "deeper" / "1.jpeg", test_rgb(8, 8, 3), 8, 8);
  }
  write_jpeg(dir / "folder" / "a" / "a.jpg", test_rgb(8, 8, 4), 8, 8);
  write_raw(dir / "stl.bin", stl10_bytes(2));

  const std::string cmd = std::string(TSPIPE_PYTHON) + " " + TSPIPE_TORCHVISION_SCRIPT + " " + dir.path().string();
  REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, "torchvision reference failed: " << cmd);

  for (const Case& c : cases) {
    CAPTURE(c.name);
    const Image ours = c.ours(src, base);
    const auto ref = read_array<float>(dir / (c.name + ".bin"), ours.px.size());
    double worst = 0;
    for (std::size_t i = 0; i < ref.size(); ++i) worst = std::max(worst, std::abs(double{ours.px[i]} - ref[i]));
    MESSAGE(c.name << ": max |ours - torchvision| = " << worst);
    CHECK(worst <= c.tolerance);
  }

  std::vector<std::uint8_t> decoded;
  const auto jpg = read_file_bytes(dir / "input.jpg");
  decode_image(jpg, "input.jpg", 1, decoded);
  CHECK(decoded == read_array<std::uint8_t>(dir / "pil_jpeg.bin", decoded.size()));

  std::ifstream listing(dir / "folder.txt");
  std::string classes_line;
  std::getline(listing, classes_line);
  const auto folder = ImageFolder::open(dir / "folder");
  std::string ours_classes;
  for (const std::string& c : folder->classes()) ours_classes += (ours_classes.empty() ? "" : " ") + c;
  CHECK(ours_classes == classes_line);
  for (std::int64_t i = 0; i < folder->size(); ++i) {
    int label = -1;
    std::string path;
    listing >> label >> path;
    CHECK(label == folder->label(i));
    CHECK(path == fs::path(folder->file(i)).lexically_relative(dir / "folder").string());
  }
  std::string extra;
  const bool more = static_cast<bool>(listing >> extra);
  CHECK_FALSE(more);

  const auto stl = std::make_shared<Stl10Source>(std::make_shared<FileBytes>(dir / "stl.bin"), std::vector<std::uint8_t>{});
  SampleBuffer buffer;
  stl->read(1, buffer);
  const auto ref = read_array<std::uint8_t>(dir / "stl_image1.bin", 3 * 96 * 96);
  bool same = true;
  for (int c = 0; c < 3; ++c)
    for (int y = 0; y < 96; ++y)
      for (int x = 0; x < 96; ++x) same = same && buffer.pixels.at(c, y, x) == ref[static_cast<std::size_t>((c * 96 + y) * 96 + x)];
  CHECK(same);
}
