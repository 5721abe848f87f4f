#pragma once
// An image folder as torchvision's ImageFolder reads it: one sub-folder per class under the root,
// images anywhere below a class folder. Classes are the sub-folder names sorted as Python's
// sorted() sorts str (by code point, which byte order of UTF-8 names reproduces) and numbered in
// that order; a class's files are ordered by folder path, then by name, as sorted(os.walk(...))
// gives. JPEGs and PNGs are decoded (by content); files are read only when the loader asks.
//
// Unlike torchvision, which silently skips files without an image extension, a file in a class
// folder that is not .jpg/.jpeg/.png is an error naming it unless skip_other_files is set; image
// formats torchvision would read and this reader cannot (.bmp, .webp, ...) are errors either way,
// since skipping them would silently give a different dataset. Zero-byte files and empty class
// folders are found when the folder is opened; a corrupt image when it is decoded.
#include <tspipe/data/file_io.hpp>
#include <tspipe/data/image_codec.hpp>
#include <tspipe/data/image_source.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::data {

struct ImageFolderOptions {
  bool skip_other_files = false;  // true: skip non-image files as torchvision does, instead of failing
  std::int64_t max_pixels = default_max_image_pixels;
};

class ImageFolder final : public ImageSource {
 public:
  /// Lists the classes and files under `root` (reads no image).
  static std::shared_ptr<const ImageFolder> open(const std::filesystem::path& root, ImageFolderOptions options = {}) {
    return std::shared_ptr<const ImageFolder>(new ImageFolder(root, options));
  }

  const std::vector<std::string>& classes() const noexcept { return classes_; }
  const std::string& file(std::int64_t i) const { return files_[static_cast<std::size_t>(i)]; }

  std::int64_t size() const noexcept override { return static_cast<std::int64_t>(files_.size()); }
  int label(std::int64_t i) const noexcept override { return labels_[static_cast<std::size_t>(i)]; }
  int num_classes() const noexcept override { return static_cast<int>(classes_.size()); }
  ImageShape shape() const noexcept override { return {3, 0, 0}; }
  std::string name() const override { return root_; }
  std::string describe(std::int64_t i) const override { return file(i); }

  void read(std::int64_t i, SampleBuffer& buffer) const override {
    read_file_into(file(i), buffer.bytes);
    const ImageHeader header = read_image_header(buffer.bytes, file(i), options_.max_pixels);
    buffer.encoded = true;
    buffer.channels = 3;
    buffer.height = header.height;
    buffer.width = header.width;
  }
  PixelView decode(std::int64_t i, SampleBuffer& buffer, int shrink) const override {
    buffer.pixels = decode_image(buffer.bytes, file(i), shrink, buffer.decoded, options_.max_pixels);
    return buffer.pixels;
  }

 private:
  ImageFolder(const std::filesystem::path& root, ImageFolderOptions options) : root_(root.string()), options_(options) {
    try {
      scan(root);
    } catch (const std::filesystem::filesystem_error& e) {  // unreadable folder, a file vanishing while listed
      throw Error(root_ + ": cannot list the image folder: " + e.what());
    }
  }

  void scan(const std::filesystem::path& root) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (!fs::exists(root, ec)) throw Error(root_ + ": no such directory");
    if (!fs::is_directory(root, ec)) throw Error(root_ + ": is a file, expected a folder with one sub-folder per class");
    for (const auto& entry : fs::directory_iterator(root))
      if (entry.is_directory()) classes_.push_back(entry.path().filename().string());
    if (classes_.empty()) throw Error(root_ + ": no class folders (expected one sub-folder per class)");
    std::sort(classes_.begin(), classes_.end());
    for (std::size_t label = 0; label < classes_.size(); ++label) add_class(root / classes_[label], static_cast<int>(label));
  }

  void add_class(const std::filesystem::path& folder, int label) {
    namespace fs = std::filesystem;
    struct Found {
      std::string dir, name;
    };
    std::vector<Found> found;
    constexpr int max_depth = 64;  // os.walk(followlinks=True) would loop forever on a symlink cycle
    fs::recursive_directory_iterator it(folder, fs::directory_options::follow_directory_symlink), end;
    for (; it != end; ++it) {
      if (it.depth() > max_depth)
        throw Error(folder.string() + ": folders nested more than " + std::to_string(max_depth) +
                    " deep (a symbolic link loop?)");
      if (!it->is_regular_file()) continue;
      const fs::path& path = it->path();
      const std::string ext = lower(path.extension().string());
      if (ext != ".jpg" && ext != ".jpeg" && ext != ".png") {
        if (ext == ".bmp" || ext == ".ppm" || ext == ".pgm" || ext == ".tif" || ext == ".tiff" || ext == ".webp")
          throw Error(path.string() + ": " + ext + " images are not supported (JPEG and PNG only); convert or remove it");
        if (options_.skip_other_files) continue;
        throw Error(path.string() + ": not an image file (only .jpg, .jpeg and .png are read); remove it, or set "
                    "skip_other_files to skip such files as torchvision does");
      }
      if (it->file_size() == 0) throw Error(path.string() + ": zero-byte file, not an image");
      found.push_back({path.parent_path().string(), path.filename().string()});
    }
    if (found.empty()) throw Error(folder.string() + ": empty class folder (no JPEG or PNG files)");
    std::sort(found.begin(), found.end(),
              [](const Found& a, const Found& b) { return a.dir != b.dir ? a.dir < b.dir : a.name < b.name; });
    for (const Found& f : found) {
      files_.push_back((std::filesystem::path(f.dir) / f.name).string());
      labels_.push_back(label);
    }
  }

  static std::string lower(std::string s) {
    for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return s;
  }

  std::string root_;
  ImageFolderOptions options_;
  std::vector<std::string> classes_;
  std::vector<std::string> files_;
  std::vector<int> labels_;
};

}  // namespace tspipe::data
