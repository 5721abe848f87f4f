#pragma once
// Named augmentation recipes and the channel statistics they normalise with.
//
// BYOL (Grill et al. 2020, appendix B, table 6) and MoCo v3 (Chen, Xie, He 2021, the augmentation
// of its reference implementation, which follows BYOL's) use the same asymmetric pair of views:
//                          view 1   view 2
//   RandomResizedCrop       scale (0.08, 1), ratio (3/4, 4/3), bilinear
//   horizontal flip         p 0.5    p 0.5
//   colour jitter           brightness 0.4, contrast 0.4, saturation 0.2, hue 0.1, random order
//                           p 0.8    p 0.8
//   grayscale               p 0.2    p 0.2
//   Gaussian blur           p 1.0    p 0.1   sigma uniform in [0.1, 2.0]
//   solarize                p 0.0    p 0.2   threshold 0.5 (128 of 255)
// BYOL's blur kernel is 23×23 for 224-pixel views, 10 % of the side; MoCo v3 blurs with PIL's
// GaussianBlur(radius = sigma) and names no size, so both use the odd size nearest below 10 % of
// the view here. MoCo v3 flips after the colour ops, BYOL before: flipping commutes with every one
// of them, so the presets differ only in name. MoCo v3's crop minimum is its --crop-min flag, 0.08
// by default, which the presets take as a parameter.
#include <tspipe/data/augment_ops.hpp>
#include <tspipe/data/dataset.hpp>
#include <tspipe/data/geometry.hpp>
#include <tspipe/data/view_pipeline.hpp>

#include <array>

namespace tspipe::data {

/// Channel statistics of ImageNet (torchvision's models and most SSL recipes use these).
inline Normalization imagenet_normalization() { return {{0.485f, 0.456f, 0.406f}, {0.229f, 0.224f, 0.225f}}; }
/// CIFAR-10 training-set statistics (per-pixel standard deviation over the whole set).
inline Normalization cifar10_normalization() { return {{0.4914f, 0.4822f, 0.4465f}, {0.2470f, 0.2435f, 0.2616f}}; }
/// CIFAR-100 training-set statistics.
inline Normalization cifar100_normalization() { return {{0.5071f, 0.4865f, 0.4409f}, {0.2673f, 0.2564f, 0.2762f}}; }
/// STL-10 statistics (train + unlabeled).
inline Normalization stl10_normalization() { return {{0.4467f, 0.4398f, 0.4066f}, {0.2603f, 0.2566f, 0.2713f}}; }

/// The odd blur kernel size nearest below 10 % of a view's side (23 for 224, 9 for 96, 3 for 32).
inline int blur_kernel_for(int view_size) noexcept {
  const int k = 2 * static_cast<int>(view_size * 0.1 / 2) + 1;
  return k < 3 ? 3 : k;
}

/// Evaluation: the stored image as it is, normalised.
inline MultiView eval_views(const Normalization& norm) { return {{ViewPipeline{Normalize(norm)}}}; }

/// Evaluation for images of varying size: Resize(resize) + CenterCrop(crop), normalised
/// (ImageNet's usual 256 → 224).
inline MultiView eval_views(const Normalization& norm, int resize, int crop) {
  return {{ViewPipeline(ResizeCenterCrop(resize, crop, crop), {Normalize(norm)})}};
}

/// Knowledge distillation: one view, padded random crop and flip (the CIFAR recipe).
inline MultiView kd_views(const Normalization& norm, int pad = 4) {
  return {{ViewPipeline(RandomCrop(pad), {HorizontalFlip(0.5f), Normalize(norm)})}};
}

/// Supervised training on images of varying size: RandomResizedCrop + flip (ImageNet's recipe).
inline MultiView train_views(const Normalization& norm, int out_size) {
  return {{ViewPipeline(RandomResizedCrop(out_size, out_size), {HorizontalFlip(0.5f), Normalize(norm)})}};
}

/// Self-supervised learning on greyscale images (Fashion-MNIST): two independently drawn views of
/// size out×out with what a grey image allows of the BYOL recipe — no hue or saturation — and a
/// symmetric blur.
inline MultiView ssl_views(const Normalization& norm, int out_size, int blur_kernel = 3) {
  const ViewPipeline one(RandomResizedCrop(out_size, out_size, 0.2f, 1.0f),
                         {HorizontalFlip(0.5f), ColorJitter({.brightness = 0.4f, .contrast = 0.4f}, 0.8f),
                          GaussianBlur(blur_kernel, 0.1f, 2.0f, 0.5f), Normalize(norm)});
  return {{one, one}};
}

/// The random ops of one view of a BYOL-style recipe, by probability and strength.
struct RecipeView {
  float crop_min = 0.08f, crop_max = 1.0f;  // RandomResizedCrop scale range (ratio 3/4 .. 4/3)
  float flip_p = 0.5f;
  JitterStrength jitter{.brightness = 0.4f, .contrast = 0.4f, .saturation = 0.2f, .hue = 0.1f};
  float jitter_p = 0.8f;
  float grayscale_p = 0.2f;
  float blur_p = 0.0f;  // sigma uniform in [0.1, 2.0], kernel blur_kernel_for(view size)
  float solarize_p = 0.0f;
};

/// BYOL's two views (Grill et al. 2020, table 6).
inline std::array<RecipeView, 2> byol_recipe() {
  RecipeView one, two;
  one.blur_p = 1.0f;
  one.solarize_p = 0.0f;
  two.blur_p = 0.1f;
  two.solarize_p = 0.2f;
  return {one, two};
}

/// MoCo v3's two views: BYOL's, with the crop's lower scale bound as a parameter (--crop-min).
inline std::array<RecipeView, 2> mocov3_recipe(float crop_min = 0.08f) {
  std::array<RecipeView, 2> views = byol_recipe();
  for (RecipeView& v : views) v.crop_min = crop_min;
  return views;
}

/// The pipeline of one recipe view, out_size × out_size, normalised with `norm`.
inline ViewPipeline make_view(const RecipeView& r, const Normalization& norm, int out_size) {
  return ViewPipeline(RandomResizedCrop(out_size, out_size, r.crop_min, r.crop_max),
                      {HorizontalFlip(r.flip_p), ColorJitter(r.jitter, r.jitter_p), RandomGrayscale(r.grayscale_p),
                       GaussianBlur(blur_kernel_for(out_size), 0.1f, 2.0f, r.blur_p), RandomSolarize(r.solarize_p),
                       Normalize(norm)});
}

inline MultiView make_views(const std::array<RecipeView, 2>& recipe, const Normalization& norm, int out_size) {
  return {{make_view(recipe[0], norm, out_size), make_view(recipe[1], norm, out_size)}};
}

/// BYOL's asymmetric pair: view 1 always blurred, never solarised; view 2 blurred with p 0.1,
/// solarised with p 0.2.
inline MultiView byol_views(const Normalization& norm, int out_size = 224) {
  return make_views(byol_recipe(), norm, out_size);
}

/// MoCo v3's pair (BYOL's probabilities), with its --crop-min.
inline MultiView mocov3_views(const Normalization& norm, int out_size = 224, float crop_min = 0.08f) {
  return make_views(mocov3_recipe(crop_min), norm, out_size);
}

}  // namespace tspipe::data
