#pragma once
// How many parameters the examples' models hold, counted from their configurations before any of
// them is allocated: a model too large to train (--teacher-width 50 asks for a ResNet-18 of 28
// billion parameters, --teacher-depth 2000000000 for 333 million blocks) is refused with a message
// naming the flags, the size, the limit (--max-parameters) and how to raise it, instead of
// allocating until the machine runs out of memory. The counts follow the builders of nn/models
// (test_model_size compares them with built models).
#include "cli.hpp"

#include <cstdint>
#include <string>

namespace tspipe::examples {

/// image_resnet(geometry, depth, width, num_classes) (depth valid for it).
double resnet_parameters(const ImageGeometry& geometry, int depth, double width, int64_t num_classes);
/// nn::models::vit with a class token, MLP ratio 4 and no classifier.
double vit_parameters(int64_t dim, int64_t depth, int64_t patch, int64_t image_size, int64_t in_channels);
/// nn::models::mlp_head as the examples build it: `layers` Linear layers without bias, BatchNorm
/// after each but the last (and, optionally, a final BatchNorm without affine parameters).
double mlp_head_parameters(int64_t in, int64_t hidden, int64_t out, int layers);

/// `x` to three significant digits ("0.25", "50", "2.8e+10"), for messages.
std::string brief(double x);

/// UsageError when `parameters` exceed --max-parameters: "<flags>: <what> would hold …".
void check_model_size(const std::string& flags, const std::string& what, double parameters, const CommonOptions& options);

/// check_model_size for a momentum example's student: its backbone (`backbone` parameters,
/// `features` wide), projector (`projector_layers`) and predictor heads.
void check_momentum_model_size(double backbone, int64_t features, int projection_dim, int hidden_dim, int projector_layers,
                               const CommonOptions& options);

}  // namespace tspipe::examples
