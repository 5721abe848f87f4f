#pragma once
// Opening a dataset by name, for command-line tools: `--dataset NAME --data PATH`.
//
//   fashion-mnist  PATH: a folder of MNIST-named IDX files (empty: Debian's dataset-fashion-mnist),
//                  or IMAGES,LABELS
//   cifar10        PATH: the cifar-10-batches-bin folder (or the folder holding it)
//   cifar100       PATH: the cifar-100-binary folder (or the folder holding it); fine labels
//   stl10          PATH: the stl10_binary folder (or the folder holding it); train, test, unlabeled
//   folder         PATH/train and PATH/val (or PATH/test): one sub-folder per class, JPEG and PNG
//
// Sources of one image size (all but folder) hold their images in memory or read them on demand;
// folder images differ in size, so their views need a crop or resize (default_eval_views).
#include <tspipe/data/augment.hpp>
#include <tspipe/data/cifar.hpp>
#include <tspipe/data/dataset.hpp>
#include <tspipe/data/image_folder.hpp>
#include <tspipe/data/image_source.hpp>
#include <tspipe/data/stl10.hpp>
#include <tspipe/data/subset_source.hpp>
#include <tspipe/error.hpp>

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::data {

/// The names open_dataset() accepts.
inline std::vector<std::string> dataset_names() { return {"fashion-mnist", "cifar10", "cifar100", "stl10", "folder"}; }

namespace detail {

inline std::string known_dataset_names() {
  std::string list;
  for (const std::string& n : dataset_names()) list += (list.empty() ? "" : ", ") + n;
  return list;
}

[[noreturn]] inline void throw_unknown_dataset(std::string_view name) {
  throw Error("unknown dataset '" + std::string(name) + "'; known: " + known_dataset_names());
}

inline std::shared_ptr<const ImageSource> open_folder_split(const std::filesystem::path& root, Split split) {
  if (split == Split::unlabeled) throw Error("folder datasets have no unlabeled split (only train and test)");
  std::error_code ec;
  if (split == Split::train) return ImageFolder::open(root / "train");
  for (const char* name : {"val", "test"})
    if (std::filesystem::is_directory(root / name, ec)) return ImageFolder::open(root / name);
  throw Error((root / "val").string() + ": no such directory (nor " + (root / "test").string() +
              "); a folder dataset has PATH/train and PATH/val, each with one sub-folder per class");
}

}  // namespace detail

/// The split of the dataset `name` stored at `path`; a failure names the file or the unknown name.
inline Result<std::shared_ptr<const ImageSource>> open_dataset(std::string_view name, const std::filesystem::path& path,
                                                               Split split) {
  return try_call([&]() -> std::shared_ptr<const ImageSource> {
    if (name == "fashion-mnist") {
      if (split == Split::unlabeled) throw Error("Fashion-MNIST has no unlabeled split (only train and test)");
      return std::make_shared<const Dataset>(load_from_flag(path.string(), split));
    }
    if (name == "cifar10") return std::make_shared<const Dataset>(load_cifar10(path, split));
    if (name == "cifar100") return std::make_shared<const Dataset>(load_cifar100(path, split));
    if (name == "stl10") return open_stl10(path, split);
    if (name == "folder") return detail::open_folder_split(path, split);
    detail::throw_unknown_dataset(name);
  });
}

/// The channel statistics to normalise the dataset `name` with (ImageNet's for folders).
inline Result<Normalization> dataset_normalization(std::string_view name) {
  if (name == "fashion-mnist") return fashion_mnist_normalization();
  if (name == "cifar10") return cifar10_normalization();
  if (name == "cifar100") return cifar100_normalization();
  if (name == "stl10") return stl10_normalization();
  if (name == "folder") return imagenet_normalization();
  return Status::failure("unknown dataset '" + std::string(name) + "'; known: " + detail::known_dataset_names());
}

/// Evaluation views for `source`: the images as they are when they share one size, otherwise
/// Resize(crop · 8/7) + CenterCrop(crop) — 256 → 224, ImageNet's evaluation.
inline MultiView default_eval_views(const ImageSource& source, const Normalization& norm, int crop = 224) {
  if (source.shape().fixed()) return eval_views(norm);
  return eval_views(norm, crop * 8 / 7, crop);
}

}  // namespace tspipe::data
