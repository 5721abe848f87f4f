#pragma once
// The backend-generic part of Conv2d (NCHW, square kernel, PyTorch's weight layout
// [out, in, k, k]): argument and input checks with their messages, the initial weights (drawn on
// the host, so every backend starts from the same weights for the same seed) and the parameter
// names (weight_and_bias, parameters.hpp). Written as free functions: each backend's Conv2d keeps
// its own plans (im2col tiling, cuDNN algorithms) and writes forward and backward side by side in
// its own file.
#include <tspipe/nn/layer_shells/checks.hpp>
#include <tspipe/nn/layer_shells/parameters.hpp>
#include <tspipe/nn/options.hpp>

#include <cmath>
#include <cstdint>
#include <string>

namespace tspipe::nn::shells {

/// Throws unless channels, kernel, stride and dilation are positive and padding ≥ 0.
inline void check_conv_options(const std::string& who, const Conv2dOptions& opt) {
  if (opt.in_channels <= 0 || opt.out_channels <= 0 || opt.kernel <= 0 || opt.stride <= 0 || opt.dilation <= 0 ||
      opt.padding < 0)
    throw Error(who + ": invalid options in=" + std::to_string(opt.in_channels) + " out=" +
                std::to_string(opt.out_channels) + " kernel=" + std::to_string(opt.kernel) + " stride=" +
                std::to_string(opt.stride) + " padding=" + std::to_string(opt.padding) + " dilation=" +
                std::to_string(opt.dilation));
}

/// Throws unless x is [N, in_channels, H, W] with the padded plane covering the dilated kernel;
/// returns that kernel's span, dilation·(kernel − 1) + 1.
template <class T>
int64_t check_conv_input(const std::string& who, const T& x, const Conv2dOptions& opt) {
  check_input(who, x, 4);
  if (x.size(1) != opt.in_channels)
    throw Error(who + ": input has " + std::to_string(x.size(1)) + " channels, expected " +
                std::to_string(opt.in_channels) + " (input shape " + to_string(x.shape()) + ")");
  const int64_t span = opt.dilation * (opt.kernel - 1) + 1;
  if (x.size(2) + 2 * opt.padding < span || x.size(3) + 2 * opt.padding < span)
    throw Error(who + ": input " + to_string(x.shape()) + " is smaller than the kernel span " +
                std::to_string(span) + " (with padding " + std::to_string(opt.padding) + ")");
  return span;
}

/// Kaiming-normal weights (fan-out, ReLU gain), as torchvision's ResNet initialises convolutions.
inline Tensor conv_initial_weight(const Conv2dOptions& opt, uint64_t seed) {
  const int64_t k2 = opt.kernel * opt.kernel;
  const float stddev = std::sqrt(2.0f / static_cast<float>(opt.out_channels * k2));
  return Tensor::randn({opt.out_channels, opt.in_channels, opt.kernel, opt.kernel}, seed, stddev);
}

/// Bias ~ U(−1/√fan_in, 1/√fan_in), as torch.nn.Conv2d.
inline Tensor conv_initial_bias(const Conv2dOptions& opt, uint64_t seed) {
  const float bound = 1.0f / std::sqrt(static_cast<float>(opt.in_channels * opt.kernel * opt.kernel));
  return Tensor::uniform({opt.out_channels}, seed ^ 0xB1A5ull, -bound, bound);
}

}  // namespace tspipe::nn::shells
