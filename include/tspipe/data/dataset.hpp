#pragma once
// Image classification datasets held in memory as bytes: Fashion-MNIST from Debian's
// `dataset-fashion-mnist` package, any pair of IDX image/label files, CIFAR (cifar.hpp).
//
// Pixels stay uint8 until augmentation turns one image into floats: 60000 Fashion-MNIST
// images are 47 MB as bytes and four times that as floats.
#include <tspipe/data/idx.hpp>
#include <tspipe/data/image_source.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::data {

/// `count` images of channels×h×w unsigned bytes (channel-major, row-major) and their labels.
struct Dataset : ImageSource {
  std::vector<std::uint8_t> pixels;
  std::vector<std::uint8_t> labels;
  int count = 0, h = 0, w = 0, channels = 1;
  std::string source;  // where it came from, for messages
  int classes = 0;     // the number of classes the format defines; 0: one more than the largest label

  std::size_t image_bytes() const noexcept {
    return static_cast<std::size_t>(channels) * static_cast<std::size_t>(h) * static_cast<std::size_t>(w);
  }
  std::span<const std::uint8_t> image(int i) const noexcept {
    return std::span<const std::uint8_t>(pixels).subspan(static_cast<std::size_t>(i) * image_bytes(), image_bytes());
  }
  int num_classes() const noexcept override {
    if (classes > 0) return classes;
    return labels.empty() ? 0 : int{*std::max_element(labels.begin(), labels.end())} + 1;
  }

  std::int64_t size() const noexcept override { return count; }
  int label(std::int64_t i) const noexcept override { return labels[static_cast<std::size_t>(i)]; }
  ImageShape shape() const noexcept override { return {channels, h, w}; }
  std::string name() const override { return source; }
  std::string describe(std::int64_t i) const override { return source + " image " + std::to_string(i); }
  void read(std::int64_t i, SampleBuffer& buffer) const override {
    buffer.encoded = false;
    buffer.channels = channels;
    buffer.height = h;
    buffer.width = w;
    buffer.pixels = PixelView::planar(image(static_cast<int>(i)).data(), channels, h, w);
  }
};

/// Per-channel mean and standard deviation of pixel values scaled to [0, 1]. One value applies to
/// every channel (what a grey dataset replicated to 3 channels needs).
struct Normalization {
  std::vector<float> mean, stddev;
};

/// Fashion-MNIST's training-set statistics.
inline Normalization fashion_mnist_normalization() { return {{0.2860f}, {0.3530f}}; }

/// Where Debian's `dataset-fashion-mnist` package installs the files.
inline std::filesystem::path default_fashion_mnist_dir() { return "/usr/share/datasets/fashion-mnist"; }

/// Pairs already parsed image and label arrays, checking that they agree.
inline Dataset make_dataset(IdxArray images, std::string_view images_source, IdxArray labels,
                            std::string_view labels_source) {
  const std::string img_name(images_source), lbl_name(labels_source);
  if (images.dims.size() != 3 || labels.dims.size() != 1)
    throw Error(img_name + ", " + lbl_name + ": expected images N×H×W and labels N");
  const std::uint32_t n = images.dims[0], h = images.dims[1], w = images.dims[2];
  if (h == 0 || w == 0)
    throw Error(img_name + ": images of size " + std::to_string(h) + "x" + std::to_string(w) + " hold no pixels");
  constexpr std::uint32_t int_max = 0x7fffffff;
  if (n > int_max || h > int_max || w > int_max)
    throw Error(img_name + ": dimensions " + std::to_string(n) + "x" + std::to_string(h) + "x" + std::to_string(w) +
                " are too large");
  if (labels.dims[0] != n)
    throw Error("label count does not match image count: " + lbl_name + " has " + std::to_string(labels.dims[0]) +
                " labels, " + img_name + " has " + std::to_string(n) + " images");
  Dataset ds;
  ds.pixels = std::move(images.values);
  ds.labels = std::move(labels.values);
  ds.count = static_cast<int>(n);
  ds.h = static_cast<int>(h);
  ds.w = static_cast<int>(w);
  ds.channels = 1;
  ds.source = img_name;
  return ds;
}

/// Loads an images file (magic 0x803) and a labels file (magic 0x801), each gzip or raw.
inline Dataset load_idx_pair(const std::filesystem::path& images_path, const std::filesystem::path& labels_path) {
  IdxArray images = read_idx_file(images_path, idx_images_magic);
  IdxArray labels = read_idx_file(labels_path, idx_labels_magic);
  return make_dataset(std::move(images), images_path.string(), std::move(labels), labels_path.string());
}

/// The file `stem` in `dir`, preferring `stem.gz`; when neither exists the error names both.
inline std::filesystem::path find_idx_file(const std::filesystem::path& dir, const std::string& stem) {
  const std::filesystem::path gz = dir / (stem + ".gz"), raw = dir / stem;
  std::error_code ec;
  if (std::filesystem::exists(gz, ec)) return gz;
  if (std::filesystem::exists(raw, ec)) return raw;
  throw Error(gz.string() + ": no such file (nor " + raw.string() + ")" +
              (dir == default_fashion_mnist_dir() ? "; install Debian's dataset-fashion-mnist package" : ""));
}

/// Loads a split from a directory using the MNIST file names (`train-images-idx3-ubyte[.gz]`,
/// `t10k-labels-idx1-ubyte[.gz]`, …), as Fashion-MNIST, MNIST and KMNIST all ship.
inline Dataset load_fashion_mnist(const std::filesystem::path& dir, Split split) {
  const std::string prefix = split == Split::train ? "train" : "t10k";
  const auto images = find_idx_file(dir, prefix + "-images-idx3-ubyte");  // images first: report
  const auto labels = find_idx_file(dir, prefix + "-labels-idx1-ubyte");  // the first missing file
  return load_idx_pair(images, labels);
}
inline Dataset load_fashion_mnist(Split split) { return load_fashion_mnist(default_fashion_mnist_dir(), split); }

/// What a `--data` flag names: a directory with MNIST-named files (empty: the Debian default), or
/// `IMAGES,LABELS` — two IDX files used for whichever split is asked for.
inline Dataset load_from_flag(std::string_view flag, Split split) {
  if (flag.empty()) return load_fashion_mnist(split);
  if (const std::size_t comma = flag.find(','); comma != std::string_view::npos)
    return load_idx_pair(std::string(flag.substr(0, comma)), std::string(flag.substr(comma + 1)));
  const std::filesystem::path dir(flag);
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec))
    throw Error(dir.string() + ": is a file; the data flag takes a directory of MNIST-named IDX files or "
                "IMAGES,LABELS");
  return load_fashion_mnist(dir, split);
}

/// The same images with `channels` copies of their single channel (grey → RGB for models built
/// for three channels).
inline Dataset to_channels(const Dataset& ds, int channels) {
  if (channels < 1) throw Error(ds.source + ": to_channels(" + std::to_string(channels) + "): need at least 1");
  if (ds.channels == channels) return ds;
  if (ds.channels != 1)
    throw Error(ds.source + ": to_channels(" + std::to_string(channels) + "): images have " +
                std::to_string(ds.channels) + " channels; only 1-channel images can be replicated");
  Dataset out = ds;
  out.channels = channels;
  const std::size_t plane = ds.image_bytes();
  out.pixels.resize(plane * static_cast<std::size_t>(channels) * static_cast<std::size_t>(ds.count));
  for (int i = 0; i < ds.count; ++i) {
    const auto src = ds.image(i);
    for (int c = 0; c < channels; ++c)
      std::copy(src.begin(), src.end(), out.pixels.begin() + static_cast<std::ptrdiff_t>(
                                                                 (static_cast<std::size_t>(i) * channels + c) * plane));
  }
  return out;
}

/// The same images centred on a size×size black canvas (28×28 → 32×32 for CIFAR-shaped models).
inline Dataset pad_to(const Dataset& ds, int size) {
  if (size < ds.h || size < ds.w)
    throw Error(ds.source + ": pad_to(" + std::to_string(size) + "): images are already " + std::to_string(ds.h) +
                "x" + std::to_string(ds.w));
  Dataset out = ds;
  out.h = out.w = size;
  const int top = (size - ds.h) / 2, left = (size - ds.w) / 2;
  out.pixels.assign(out.image_bytes() * static_cast<std::size_t>(ds.count), 0);
  for (int i = 0; i < ds.count; ++i)
    for (int c = 0; c < ds.channels; ++c)
      for (int y = 0; y < ds.h; ++y) {
        const std::size_t src = ((static_cast<std::size_t>(i) * ds.channels + c) * ds.h + y) * ds.w;
        const std::size_t dst = ((static_cast<std::size_t>(i) * ds.channels + c) * size + y + top) * size + left;
        std::copy_n(ds.pixels.begin() + static_cast<std::ptrdiff_t>(src), ds.w,
                    out.pixels.begin() + static_cast<std::ptrdiff_t>(dst));
      }
  return out;
}

/// Images [first, first + count) — a quick smoke-test set.
inline Dataset subset(const Dataset& ds, int first, int count) {
  if (first < 0 || count < 0 || first > ds.count - count)
    throw Error(ds.source + ": subset [" + std::to_string(first) + ", " + std::to_string(first + count) +
                ") lies outside the " + std::to_string(ds.count) + " images");
  Dataset out;
  const auto from = ds.pixels.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(first) * ds.image_bytes());
  out.pixels.assign(from, from + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(count) * ds.image_bytes()));
  out.labels.assign(ds.labels.begin() + first, ds.labels.begin() + first + count);
  out.count = count;
  out.h = ds.h;
  out.w = ds.w;
  out.channels = ds.channels;
  out.source = ds.source;
  out.classes = ds.classes;
  return out;
}

}  // namespace tspipe::data
