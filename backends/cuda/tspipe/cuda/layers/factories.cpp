// The CUDA backend's layer factories: nn::LayerFactories' shared definitions, instantiated with
// this backend's layer classes.
#include <tspipe/cuda/layers/activations.hpp>
#include <tspipe/cuda/layers/attention.hpp>
#include <tspipe/cuda/layers/batchnorm.hpp>
#include <tspipe/cuda/layers/conv2d.hpp>
#include <tspipe/cuda/layers/dropout.hpp>
#include <tspipe/cuda/layers/layernorm.hpp>
#include <tspipe/cuda/layers/linear.hpp>
#include <tspipe/cuda/layers/patch_embed.hpp>
#include <tspipe/cuda/layers/pooling.hpp>
#include <tspipe/cuda/layers/reshape.hpp>
#include <tspipe/cuda/layers/softmax.hpp>
#include <tspipe/nn/layer_factories_definitions.hpp>

namespace tspipe::nn {

template <>
struct LayerClasses<cuda::Backend> {
  using Activation = cuda::Activation;
  using BatchNorm = cuda::BatchNorm;
  using Conv2d = cuda::Conv2d;
  using Dropout = cuda::Dropout;
  using GlobalAvgPool = cuda::GlobalAvgPool;
  using LayerNorm = cuda::LayerNorm;
  using Linear = cuda::Linear;
  using PatchEmbed = cuda::PatchEmbed;
  using Pool2d = cuda::Pool2d;
  using SelectToken = cuda::SelectToken;
  using SelfAttention = cuda::SelfAttention;
  using Softmax = cuda::Softmax;
};

template struct LayerFactories<cuda::Backend>;

}  // namespace tspipe::nn
