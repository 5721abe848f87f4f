#include "model_size.hpp"

#include "training.hpp"

#include <tspipe/nn/models/resnet.hpp>

#include <cstdio>

namespace tspipe::examples {

namespace {

double channels(int64_t base, double width) { return static_cast<double>(nn::models::detail::scaled_channels(base, width)); }
double conv(double in, double out, double kernel) { return in * out * kernel * kernel; }
double batch_norm(double c) { return 2.0 * c; }  // weight and bias (running statistics are buffers)

}  // namespace

std::string brief(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.3g", x);
  return text;
}

double resnet_parameters(const ImageGeometry& g, int depth, double width, int64_t num_classes) {
  const bool compact = is_compact_resnet_depth(depth);
  const nn::models::ResNetLayout layout = nn::models::resnet_layout(compact ? 18 : depth);
  const double expansion = layout.bottleneck ? 4.0 : 1.0;
  double in = channels(64, width);
  double total = conv(g.channels, in, !compact && uses_imagenet_stem(g) ? 7 : 3) + batch_norm(in);
  for (int stage = 0; stage < (compact ? 3 : 4); ++stage) {
    const double planes = channels(int64_t{64} << stage, width), out = planes * expansion;
    const double blocks = compact ? (depth - 2) / 6 : layout.blocks[static_cast<std::size_t>(stage)];
    // The first block of a stage may downsample; the others map out → out.
    const auto block = [&](double from) {
      return layout.bottleneck ? conv(from, planes, 1) + conv(planes, planes, 3) + conv(planes, out, 1) + 2 * batch_norm(planes) +
                                     batch_norm(out)
                               : conv(from, planes, 3) + conv(planes, planes, 3) + 2 * batch_norm(planes);
    };
    const bool downsample = stage > 0 || in != out;
    total += block(in) + (downsample ? conv(in, out, 1) + batch_norm(out) : 0.0) + (blocks - 1) * block(out);
    in = out;
  }
  if (num_classes > 0) total += in * static_cast<double>(num_classes) + static_cast<double>(num_classes);
  return total;
}

double vit_parameters(int64_t dim, int64_t depth, int64_t patch, int64_t image_size, int64_t in_channels) {
  const double d = static_cast<double>(dim), side = static_cast<double>(image_size / patch), hidden = 4.0 * d;
  const double embed = conv(static_cast<double>(in_channels), d, static_cast<double>(patch)) + d + d + (side * side + 1) * d;
  const double block = 2 * (2 * d) + (d * 3 * d + 3 * d) + (d * d + d) + (d * hidden + hidden) + (hidden * d + d);
  return embed + static_cast<double>(depth) * block + 2 * d;
}

double mlp_head_parameters(int64_t in, int64_t hidden, int64_t out, int layers) {
  const double h = static_cast<double>(hidden);
  double total = 0.0, from = static_cast<double>(in);
  for (int i = 0; i + 1 < layers; ++i, from = h) total += from * h + batch_norm(h);
  return total + from * static_cast<double>(out);  // no output bias; a final BatchNorm has no affine parameters
}

void check_model_size(const std::string& flags, const std::string& what, double parameters, const CommonOptions& o) {
  if (parameters <= o.max_parameters) return;
  throw UsageError(flags + ": " + what + " would hold " + brief(parameters) + " parameters (" + brief(parameters * 4 / 1e9) +
                   " GB as float32, and training keeps several copies), over the limit of " + brief(o.max_parameters) +
                   "; raise --max-parameters where the machine holds it");
}

void check_momentum_model_size(double backbone, int64_t features, int projection_dim, int hidden_dim, int projector_layers,
                               const CommonOptions& o) {
  const double heads = mlp_head_parameters(features, hidden_dim, projection_dim, projector_layers) +
                       mlp_head_parameters(projection_dim, hidden_dim, projection_dim, 2);
  check_model_size("--hidden-dim " + std::to_string(hidden_dim) + " --projection-dim " + std::to_string(projection_dim),
                   "the student (backbone, projector and predictor)", backbone + heads, o);
}

}  // namespace tspipe::examples
