#pragma once
// The data of an example's run: --dataset (data/open.hpp) at --data, cut to --train-subset and
// --test-subset, with its test-time views and a supervised phase's training views (the
// self-supervised recipes' are momentum_example.hpp's).
#include "cli.hpp"

#include <tspipe/data/image_source.hpp>
#include <tspipe/data/presets.hpp>

#include <memory>

namespace tspipe::examples {

/// The data of a run (--dataset, --data), cut to --train-subset / --test-subset.
struct Datasets {
  std::shared_ptr<const data::ImageSource> train;      ///< labeled training images (the linear probe's too)
  std::shared_ptr<const data::ImageSource> unlabeled;  ///< STL-10's unlabeled split, for self-supervised phases; else null
  std::shared_ptr<const data::ImageSource> test;
  ImageGeometry geometry;                              ///< what the models see
  data::Normalization normalization;
  data::MultiView eval;                                ///< test-time views: normalised (a folder's resized and cropped)
};
/// Opens the data on every process (agreed): Error naming the file for unreadable data,
/// UsageError naming the flag when a subset or the image size does not fit the data.
Datasets load_datasets(const CommonOptions& options);

/// A supervised phase's training views: padded random crop and flip (a folder: random resized
/// crop and flip) at the run's image size and normalisation.
data::MultiView supervised_views(const CommonOptions& options, int crop_pad);

}  // namespace tspipe::examples
