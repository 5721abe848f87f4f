#pragma once
// ResNet (He et al.; torchvision's v1.5 layout: the stride sits on the 3×3 conv of a bottleneck),
// generic over the Backend, built as a flat list of blocks a partitioner can cut anywhere:
//   [stem, layer1.0, layer1.1, …, layer4.(n−1), head]
// Every block is one Layer whose parameters carry torchvision's full names
// ("conv1.weight", "layer2.0.downsample.0.weight", "fc.bias"), so teacher/student pairing and
// weight loading go by name.
//
// Stems: imagenet = 7×7/2 conv + BN + ReLU + 3×3/2 max-pool (224×224 inputs);
//        small_image = 3×3/1 conv + BN + ReLU (28×28, 32×32 inputs: CIFAR, Fashion-MNIST);
//        small_image_pooled = small_image + 2×2/2 max-pool (the residual stages run at half the
//        resolution: about 4× cheaper, for CPU-sized budgets on 28×28 inputs).
// Compact variants: `residual_stages` < 4 drops the last stages and `blocks_per_stage` > 0 gives
// every stage that many blocks (e.g. 3 stages × 1 basic block = the CIFAR-style ResNet-8); the
// defaults (4, 0) are the torchvision layouts above.
// Head: global average pool + flatten (+ a Linear "fc" when num_classes > 0), so the output is
// [N, features] (512·width for basic blocks, 2048·width for bottlenecks, with 4 stages) or [N, num_classes].
#include <tspipe/error.hpp>
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/options.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::nn::models {

enum class Stem { imagenet, small_image, small_image_pooled };

/// The nonlinearity inside the blocks; ReLU is the standard one, GELU gives a smooth network
/// (finite-difference gradient checks need one; some modern variants use it too).
enum class ResNetActivation { relu, gelu };

struct ResNetConfig {
  int depth = 18;            // 18, 34 (basic blocks); 50, 101, 152 (bottlenecks)
  double width = 1.0;        // multiplies every stage's channel count
  Stem stem = Stem::imagenet;
  int64_t in_channels = 3;
  int64_t num_classes = 0;   // 0: no classifier, the output is the pooled feature vector
  uint64_t seed = 0;         // same seed ⇒ bit-identical initial weights
  ResNetActivation activation = ResNetActivation::relu;
  int residual_stages = 4;   // 1–4: stages of widths 64, 128, 256, 512 (×width) kept
  int blocks_per_stage = 0;  // 0: the depth's layout; n > 0: n blocks in every stage (depth picks basic/bottleneck)
};

struct ResNetLayout {
  bool bottleneck;
  std::array<int, 4> blocks;  // residual blocks per stage
};

/// The stage layout of a depth; throws tspipe::Error naming the depth when it is not a ResNet.
inline ResNetLayout resnet_layout(int depth) {
  switch (depth) {
    case 18: return {false, {2, 2, 2, 2}};
    case 34: return {false, {3, 4, 6, 3}};
    case 50: return {true, {3, 4, 6, 3}};
    case 101: return {true, {3, 4, 23, 3}};
    case 152: return {true, {3, 8, 36, 3}};
    default:
      throw Error("ResNet: unknown depth " + std::to_string(depth) + "; expected one of 18, 34, 50, 101, 152");
  }
}

/// "resnet18" … "resnet152" (ImageNet stem); "resnet18_small" etc. for the small-image stem.
inline ResNetConfig resnet_preset(std::string_view name, int64_t num_classes = 0, uint64_t seed = 0) {
  ResNetConfig c;
  c.num_classes = num_classes;
  c.seed = seed;
  std::string_view rest = name;
  constexpr std::string_view small_suffix = "_small";
  if (rest.size() > small_suffix.size() && rest.substr(rest.size() - small_suffix.size()) == small_suffix) {
    c.stem = Stem::small_image;
    rest.remove_suffix(small_suffix.size());
  }
  for (int depth : {18, 34, 50, 101, 152})
    if (rest == "resnet" + std::to_string(depth)) {
      c.depth = depth;
      return c;
    }
  throw Error("ResNet: unknown preset '" + std::string(name) +
              "'; expected resnet18|34|50|101|152, optionally with the suffix _small");
}

namespace detail {
inline int64_t scaled_channels(int64_t base, double width) {
  return std::max<int64_t>(1, static_cast<int64_t>(std::lround(static_cast<double>(base) * width)));
}
}  // namespace detail

/// Builds the block list. Throws tspipe::Error for an unknown depth or a non-positive width,
/// channel or class count.
template <class B>
std::vector<LayerPtr<B>> resnet(const ResNetConfig& config) {
  const ResNetLayout layout = resnet_layout(config.depth);
  if (!(config.width > 0.0)) throw Error("ResNet: width multiplier must be positive, got " + std::to_string(config.width));
  if (config.in_channels <= 0) throw Error("ResNet: in_channels must be positive, got " + std::to_string(config.in_channels));
  if (config.num_classes < 0) throw Error("ResNet: num_classes must be >= 0, got " + std::to_string(config.num_classes));
  if (config.residual_stages < 1 || config.residual_stages > 4)
    throw Error("ResNet: residual_stages must lie in 1..4, got " + std::to_string(config.residual_stages));
  if (config.blocks_per_stage < 0)
    throw Error("ResNet: blocks_per_stage must be >= 0, got " + std::to_string(config.blocks_per_stage));

  SeedSequence seeds(config.seed);
  auto act = [&] { return config.activation == ResNetActivation::gelu ? B::gelu() : B::relu(); };
  auto conv = [&](int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding, const std::string& label) {
    return B::conv2d(Conv2dOptions{in, out, kernel, stride, padding, 1, false}, seeds.next(), label);
  };

  std::vector<LayerPtr<B>> blocks;
  const int64_t stem_width = detail::scaled_channels(64, config.width);
  {
    auto stem = std::make_unique<Sequential<B>>();
    if (config.stem == Stem::imagenet) {
      stem->add("conv1", conv(config.in_channels, stem_width, 7, 2, 3, "conv1"));
    } else {
      stem->add("conv1", conv(config.in_channels, stem_width, 3, 1, 1, "conv1"));
    }
    stem->add("bn1", B::batch_norm2d(stem_width, "bn1"));
    stem->add("relu", act());
    if (config.stem == Stem::imagenet) stem->add("maxpool", B::max_pool2d(Pool2dOptions{3, 2, 1}, "maxpool"));
    if (config.stem == Stem::small_image_pooled) stem->add("maxpool", B::max_pool2d(Pool2dOptions{2, 2, 0}, "maxpool"));
    blocks.push_back(std::move(stem));
  }

  const int64_t expansion = layout.bottleneck ? 4 : 1;
  int64_t in = stem_width;
  for (int stage = 0; stage < config.residual_stages; ++stage) {
    const int64_t planes = detail::scaled_channels(int64_t{64} << stage, config.width);
    const int stage_blocks = config.blocks_per_stage > 0 ? config.blocks_per_stage : layout.blocks[static_cast<size_t>(stage)];
    for (int i = 0; i < stage_blocks; ++i) {
      const std::string name = "layer" + std::to_string(stage + 1) + "." + std::to_string(i);
      const int64_t stride = (stage > 0 && i == 0) ? 2 : 1;
      const int64_t out = planes * expansion;
      auto main = std::make_unique<Sequential<B>>();
      if (layout.bottleneck) {
        main->add("conv1", conv(in, planes, 1, 1, 0, name + ".conv1"));
        main->add("bn1", B::batch_norm2d(planes, name + ".bn1"));
        main->add("relu1", act());
        main->add("conv2", conv(planes, planes, 3, stride, 1, name + ".conv2"));
        main->add("bn2", B::batch_norm2d(planes, name + ".bn2"));
        main->add("relu2", act());
        main->add("conv3", conv(planes, out, 1, 1, 0, name + ".conv3"));
        main->add("bn3", B::batch_norm2d(out, name + ".bn3"));
      } else {
        main->add("conv1", conv(in, planes, 3, stride, 1, name + ".conv1"));
        main->add("bn1", B::batch_norm2d(planes, name + ".bn1"));
        main->add("relu1", act());
        main->add("conv2", conv(planes, planes, 3, 1, 1, name + ".conv2"));
        main->add("bn2", B::batch_norm2d(planes, name + ".bn2"));
      }
      LayerPtr<B> downsample;
      if (stride != 1 || in != out) {
        auto ds = std::make_unique<Sequential<B>>();
        ds->add("0", conv(in, out, 1, stride, 0, name + ".downsample.0"));
        ds->add("1", B::batch_norm2d(out, name + ".downsample.1"));
        downsample = std::move(ds);
      }
      blocks.push_back(named<B>(name, std::make_unique<Residual<B>>(std::move(main), std::move(downsample), act())));
      in = out;
    }
  }

  auto head = std::make_unique<Sequential<B>>();
  head->add("avgpool", B::global_avg_pool("avgpool"));
  head->add("flatten", B::flatten());
  if (config.num_classes > 0) head->add("fc", B::linear(in, config.num_classes, true, seeds.next(), "fc"));
  blocks.push_back(std::move(head));
  return blocks;
}

}  // namespace tspipe::nn::models
