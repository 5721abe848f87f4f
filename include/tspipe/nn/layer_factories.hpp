#pragma once
// The layer factories every backend offers, declared once: the model builders (nn/models/) call
// B::linear(...), B::conv2d(...), ... and get the backend's layer behind a Layer<B> pointer, so a
// model is written once for every backend. `label` names the layer in error messages ("Linear
// 'fc'"); seeds make the initial weights deterministic, the same on every backend.
//
// A backend derives from LayerFactories<Itself>. The definitions (layer_factories_definitions.hpp)
// are written once as well, in terms of LayerClasses<Backend>, the backend's class for each kind
// of layer; the one .cpp of a backend that includes all of its layer classes specialises
// LayerClasses and instantiates `template struct nn::LayerFactories<Backend>;`, so every other
// file sees only these declarations.
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/options.hpp>

#include <cstdint>
#include <string>

namespace tspipe::nn {

/// Backend B's layer classes under the names the factories make them by (Activation, BatchNorm,
/// Conv2d, Dropout, GlobalAvgPool, LayerNorm, Linear, PatchEmbed, Pool2d, SelectToken,
/// SelfAttention, Softmax), each constructed as the definitions show.
template <class B>
struct LayerClasses;

template <class B>
struct LayerFactories {
  using LayerPtr = nn::LayerPtr<B>;

  static LayerPtr linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed,
                         std::string label = "");
  static LayerPtr conv2d(const Conv2dOptions& options, uint64_t seed, std::string label = "");
  static LayerPtr batch_norm2d(int64_t channels, std::string label = "", float eps = 1e-5f,
                               float momentum = 0.1f);
  /// affine = false: no learned γ, β (PyTorch's BatchNorm1d(affine=False)).
  static LayerPtr batch_norm1d(int64_t channels, std::string label = "", float eps = 1e-5f,
                               float momentum = 0.1f, bool affine = true);
  static LayerPtr layer_norm(int64_t features, std::string label = "", float eps = 1e-6f);
  static LayerPtr relu();
  static LayerPtr gelu();
  static LayerPtr max_pool2d(const Pool2dOptions& options, std::string label = "");
  static LayerPtr avg_pool2d(const Pool2dOptions& options, std::string label = "");
  static LayerPtr global_avg_pool(std::string label = "");
  static LayerPtr flatten();
  static LayerPtr dropout(float p, uint64_t seed, std::string label = "");
  static LayerPtr softmax();
  static LayerPtr self_attention(int64_t dim, int64_t heads, uint64_t seed, std::string label = "");
  static LayerPtr patch_embed(const PatchEmbedOptions& options, uint64_t seed, std::string label = "");
  static LayerPtr select_token(int64_t index = 0);
};

}  // namespace tspipe::nn
