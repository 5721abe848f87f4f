#pragma once
// STL-10, binary version (the stl10_binary/ folder of the official tarball; Coates, Lee, Ng 2011).
//
//   train_X.bin (5000 images), test_X.bin (8000), unlabeled_X.bin (100000): no header, 27648 bytes
//     per image. An image is three 96×96 planes (red, green, blue), and each plane is stored
//     column by column (column-major, as MATLAB writes arrays): byte c·9216 + x·96 + y of an image
//     is channel c at row y, column x. (The reference reader reshapes to (-1, 3, 96, 96) and
//     transposes the last two axes to get rows first; torchvision's STL10 does the same.)
//   train_y.bin, test_y.bin: one byte per image, the class 1..10; reported here as 0..9.
//
// Images are read on demand, one record per read: the unlabeled split is 2.7 GB and is streamed by
// the loader rather than held in memory. The column-major planes are read in place through
// PixelView's strides.
#include <tspipe/data/cifar.hpp>
#include <tspipe/data/file_io.hpp>
#include <tspipe/data/image_source.hpp>
#include <tspipe/error.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tspipe::data {

inline constexpr int stl10_side = 96;
inline constexpr std::size_t stl10_image_bytes = 3 * 96 * 96;
inline constexpr int stl10_classes = 10;

/// A labels file's bytes (1..10) as 0-based classes.
inline std::vector<std::uint8_t> parse_stl10_labels(std::span<const std::uint8_t> bytes, std::string_view source) {
  const std::string name(source);
  if (bytes.empty()) throw Error(name + ": empty file (0 bytes); expected one label byte (1..10) per image");
  std::vector<std::uint8_t> labels(bytes.size());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] < 1 || bytes[i] > stl10_classes)
      throw Error(name + ": label " + std::to_string(i) + " is " + std::to_string(bytes[i]) +
                  ", out of range for STL-10 (1..10)");
    labels[i] = static_cast<std::uint8_t>(bytes[i] - 1);
  }
  return labels;
}

/// STL-10 images read on demand, with their labels (none for the unlabeled split).
class Stl10Source final : public ImageSource {
 public:
  /// `labels`: 0-based classes, one per image, or empty for unlabeled images.
  Stl10Source(std::shared_ptr<const ByteStore> images, std::vector<std::uint8_t> labels, std::string labels_name = {})
      : images_(std::move(images)), labels_(std::move(labels)), count_(image_count(*images_)) {
    const std::string& name = images_->name();
    if (!labels_.empty() && static_cast<std::int64_t>(labels_.size()) != count_)
      throw Error("label count does not match image count: " + labels_name + " has " + std::to_string(labels_.size()) +
                  " labels, " + name + " has " + std::to_string(count_) + " images");
    for (std::size_t i = 0; i < labels_.size(); ++i)
      if (labels_[i] >= stl10_classes)
        throw Error(labels_name + ": label " + std::to_string(i) + " is " + std::to_string(labels_[i]) +
                    ", out of range for STL-10 (0..9 after subtracting 1)");
  }

  /// The number of images `images` holds; an Error unless it is a whole, non-zero number.
  static std::int64_t image_count(const ByteStore& images) {
    const std::uint64_t bytes = images.size();
    if (bytes == 0) throw Error(images.name() + ": empty file (0 bytes); STL-10 images are 27648 bytes each");
    if (bytes % stl10_image_bytes != 0)
      throw Error(images.name() + ": truncated or wrong size: " + std::to_string(bytes) +
                  " bytes is not a whole number of 27648-byte STL-10 images (" +
                  std::to_string(bytes / stl10_image_bytes) + " images and " +
                  std::to_string(bytes % stl10_image_bytes) + " bytes left over)");
    return static_cast<std::int64_t>(bytes / stl10_image_bytes);
  }

  std::int64_t size() const noexcept override { return count_; }
  int label(std::int64_t i) const noexcept override {
    return labels_.empty() ? -1 : labels_[static_cast<std::size_t>(i)];
  }
  int num_classes() const noexcept override { return stl10_classes; }
  bool labeled() const noexcept { return !labels_.empty(); }
  ImageShape shape() const noexcept override { return {3, stl10_side, stl10_side}; }
  std::string name() const override { return images_->name(); }
  std::string describe(std::int64_t i) const override { return images_->name() + " image " + std::to_string(i); }

  void read(std::int64_t i, SampleBuffer& buffer) const override {
    buffer.bytes.resize(stl10_image_bytes);
    images_->read_at(static_cast<std::uint64_t>(i) * stl10_image_bytes, buffer.bytes);
    buffer.encoded = false;
    buffer.channels = 3;
    buffer.height = buffer.width = stl10_side;
    buffer.pixels = PixelView::planar_column_major(buffer.bytes.data(), 3, stl10_side, stl10_side);
  }

 private:
  std::shared_ptr<const ByteStore> images_;
  std::vector<std::uint8_t> labels_;
  std::int64_t count_ = 0;
};

/// A split of STL-10 from `dir` (or `dir`/stl10_binary): train_X/train_y, test_X/test_y, or
/// unlabeled_X (labels -1).
inline std::shared_ptr<const Stl10Source> open_stl10(const std::filesystem::path& dir, Split split) {
  const auto root = detail::dataset_folder(dir, "stl10_binary", "test_X.bin");
  const std::string prefix = split_name(split);
  auto images = std::make_shared<const FileBytes>(root / (prefix + "_X.bin"));
  Stl10Source::image_count(*images);  // the images file's errors come first, as it is named first
  if (split == Split::unlabeled) return std::make_shared<const Stl10Source>(std::move(images), std::vector<std::uint8_t>{});
  const auto labels_path = root / (prefix + "_y.bin");
  return std::make_shared<const Stl10Source>(std::move(images),
                                             parse_stl10_labels(read_file_bytes(labels_path), labels_path.string()),
                                             labels_path.string());
}

}  // namespace tspipe::data
