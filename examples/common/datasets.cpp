#include "datasets.hpp"

#include "launch.hpp"

#include <tspipe/data/open.hpp>
#include <tspipe/data/subset_source.hpp>
#include <tspipe/error.hpp>

#include <string>

namespace tspipe::examples {

namespace {

/// A split of --dataset, cut to its first `subset` images (0: all). UsageError naming `flag` when
/// it holds fewer, unless `at_most` (then it keeps what it has).
std::shared_ptr<const data::ImageSource> open_split(const CommonOptions& o, data::Split split, int subset, const char* flag,
                                                    bool at_most = false) {
  auto opened = data::open_dataset(o.dataset, o.data, split);
  if (!opened) throw Error(opened.message());
  std::shared_ptr<const data::ImageSource> source = std::move(opened).value();
  if (subset > source->size() && !at_most)
    throw UsageError(std::string("--") + flag + " " + std::to_string(subset) + ": " + source->name() + " holds only " +
                     std::to_string(source->size()) + " images");
  if (subset > 0 && subset < source->size()) source = data::subset_source(source, 0, subset);
  return source;
}

}  // namespace

Datasets load_datasets(const CommonOptions& o) {
  return agreed([&] {
    Datasets d;
    d.geometry = image_geometry(o);
    // STL-10's unlabeled split is what self-supervised phases train on, cut by --train-subset;
    // its labeled split (the probe's) keeps what it has of that many.
    const bool unlabeled = o.dataset == "stl10";
    if (unlabeled) d.unlabeled = open_split(o, data::Split::unlabeled, o.train_subset, "train-subset");
    d.train = open_split(o, data::Split::train, o.train_subset, "train-subset", unlabeled);
    d.test = open_split(o, data::Split::test, o.test_subset, "test-subset");
    for (const auto* source : {&d.train, &d.test}) {
      const data::ImageShape shape = (*source)->shape();
      if (shape.fixed() && (shape.c != d.geometry.channels || shape.h != d.geometry.side || shape.w != d.geometry.side))
        throw UsageError("--data " + o.data + ": " + (*source)->name() + " holds " + std::to_string(shape.c) + "×" +
                         std::to_string(shape.h) + "×" + std::to_string(shape.w) + " images, not " + std::to_string(d.geometry.channels) +
                         "×" + std::to_string(d.geometry.side) + "×" + std::to_string(d.geometry.side) +
                         (o.dataset == "fashion-mnist" ? " (give --image-size " + std::to_string(shape.h) + ")" : ""));
    }
    auto normalization = data::dataset_normalization(o.dataset);
    if (!normalization) throw UsageError("--dataset: " + normalization.message());
    d.normalization = normalization.value();
    d.eval = data::default_eval_views(*d.test, d.normalization, d.geometry.side);
    return d;
  });
}

data::MultiView supervised_views(const CommonOptions& o, int crop_pad) {
  const ImageGeometry g = image_geometry(o);
  const data::Normalization norm = data::dataset_normalization(o.dataset).value();
  return o.dataset == "folder" ? data::train_views(norm, g.side) : data::kd_views(norm, crop_pad);
}

}  // namespace tspipe::examples
