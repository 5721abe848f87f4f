// The CPU backend's layer factories: nn::LayerFactories' shared definitions, instantiated with
// this backend's layer classes.
#include <tspipe/cpu/layers/activations.hpp>
#include <tspipe/cpu/layers/attention.hpp>
#include <tspipe/cpu/layers/batchnorm.hpp>
#include <tspipe/cpu/layers/conv2d.hpp>
#include <tspipe/cpu/layers/dropout.hpp>
#include <tspipe/cpu/layers/layernorm.hpp>
#include <tspipe/cpu/layers/linear.hpp>
#include <tspipe/cpu/layers/patch_embed.hpp>
#include <tspipe/cpu/layers/pooling.hpp>
#include <tspipe/cpu/layers/reshape.hpp>
#include <tspipe/cpu/layers/softmax.hpp>
#include <tspipe/nn/layer_factories_definitions.hpp>

namespace tspipe::nn {

template <>
struct LayerClasses<cpu::Backend> {
  using Activation = cpu::Activation;
  using BatchNorm = cpu::BatchNorm;
  using Conv2d = cpu::Conv2d;
  using Dropout = cpu::Dropout;
  using GlobalAvgPool = cpu::GlobalAvgPool;
  using LayerNorm = cpu::LayerNorm;
  using Linear = cpu::Linear;
  using PatchEmbed = cpu::PatchEmbed;
  using Pool2d = cpu::Pool2d;
  using SelectToken = cpu::SelectToken;
  using SelfAttention = cpu::SelfAttention;
  using Softmax = cpu::Softmax;
};

template struct LayerFactories<cpu::Backend>;

}  // namespace tspipe::nn
