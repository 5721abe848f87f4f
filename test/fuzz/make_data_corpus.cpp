// Writes the seed corpora of fuzz_image and fuzz_records (corpus/image, corpus/records) with the
// codecs' own encoders. Build and run from the repository root:
//   g++ -std=c++20 -Iinclude test/fuzz/make_data_corpus.cpp -lturbojpeg -lpng -lz -o /tmp/make_data_corpus
//   /tmp/make_data_corpus test/fuzz/corpus
#include <tspipe/data/jpeg.hpp>
#include <tspipe/data/png.hpp>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace tspipe::data;
using Bytes = std::vector<std::uint8_t>;

void write(const std::filesystem::path& path, const Bytes& bytes) {
  std::ofstream(path, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

Bytes pattern(int h, int w, int c) {
  Bytes px(static_cast<std::size_t>(h * w * c));
  for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<std::uint8_t>(i * 37 % 251);
  return px;
}

Bytes cut(Bytes b, std::size_t n) {
  b.resize(n);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  const std::filesystem::path root = argv[1], image = root / "image", records = root / "records";
  std::filesystem::create_directories(image);
  std::filesystem::create_directories(records);

  const Bytes rgb = pattern(24, 40, 3), grey = pattern(9, 7, 1);
  const Bytes jpg = encode_jpeg(PixelView::interleaved(rgb.data(), 3, 24, 40), 80);
  const Bytes png = encode_png(PixelView::interleaved(rgb.data(), 3, 24, 40));
  write(image / "rgb_24x40.jpg", jpg);
  write(image / "grey_9x7.jpg", encode_jpeg(PixelView::interleaved(grey.data(), 1, 9, 7), 90));
  write(image / "rgb_24x40.png", png);
  write(image / "grey_9x7.png", encode_png(PixelView::interleaved(grey.data(), 1, 9, 7)));
  write(image / "one_pixel.png", encode_png(PixelView::interleaved(rgb.data(), 3, 1, 1)));
  write(image / "truncated.jpg", cut(jpg, jpg.size() * 2 / 3));
  write(image / "truncated.png", cut(png, png.size() / 2));
  write(image / "not_an_image.txt", {'h', 'e', 'l', 'l', 'o', '\n'});

  auto cifar = [](std::uint8_t mode, const std::vector<Bytes>& labels) {
    Bytes out{mode};
    for (const Bytes& l : labels) {
      out.insert(out.end(), l.begin(), l.end());
      const Bytes px = pattern(32, 32, 3);
      out.insert(out.end(), px.begin(), px.end());
    }
    return out;
  };
  write(records / "cifar10_2_records.bin", cifar(0, {{3}, {9}}));
  write(records / "cifar10_bad_label.bin", cifar(0, {{10}}));
  write(records / "cifar10_truncated.bin", cut(cifar(0, {{1}}), 2000));
  write(records / "cifar100_fine.bin", cifar(1, {{19, 99}}));
  write(records / "cifar100_coarse.bin", cifar(2, {{7, 42}, {0, 0}}));
  Bytes stl{3, 0, 2, 1, 10};  // STL-10, 2 label bytes, labels 1 and 10, then two images
  const Bytes stl_images = pattern(2 * 96, 96, 3);
  stl.insert(stl.end(), stl_images.begin(), stl_images.end());
  write(records / "stl10_2_images.bin", stl);
  Bytes unlabeled{3, 0, 0};
  unlabeled.insert(unlabeled.end(), stl_images.begin(), stl_images.begin() + 27648);
  write(records / "stl10_unlabeled.bin", unlabeled);
  write(records / "stl10_bad_label.bin", Bytes{3, 0, 1, 11});
  return 0;
}
