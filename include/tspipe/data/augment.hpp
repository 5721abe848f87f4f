#pragma once
// Augmentation: everything that turns a stored 8-bit image into float views.
//   geometry.hpp       which pixels, at what size (crop, resize, padding), drawn before decoding
//   augment_ops.hpp    random float ops: flip, colour jitter, grayscale, blur, solarize, normalise
//   color.hpp, blur.hpp, resample.hpp   the deterministic operations under them
//   view_pipeline.hpp  ViewPipeline (geometry + ops) and MultiView (the views of an example)
//   presets.hpp        BYOL, MoCo v3, KD, evaluation recipes and channel statistics
#include <tspipe/data/augment_ops.hpp>
#include <tspipe/data/blur.hpp>
#include <tspipe/data/color.hpp>
#include <tspipe/data/geometry.hpp>
#include <tspipe/data/presets.hpp>
#include <tspipe/data/resample.hpp>
#include <tspipe/data/view_pipeline.hpp>
