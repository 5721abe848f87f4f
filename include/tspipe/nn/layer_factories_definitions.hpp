#pragma once
// The definitions of nn::LayerFactories (layer_factories.hpp), written once for every backend in
// terms of the backend's layer classes, LayerClasses<B>. Included only by the .cpp of a backend
// that specialises LayerClasses and instantiates the factories.
#include <tspipe/kernels/activations.hpp>
#include <tspipe/nn/layer_factories.hpp>
#include <tspipe/nn/layer_shells/reshape.hpp>

#include <memory>
#include <utility>

namespace tspipe::nn {

template <class B>
LayerPtr<B> LayerFactories<B>::linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed,
                                      std::string label) {
  return std::make_unique<typename LayerClasses<B>::Linear>(in_features, out_features, bias, seed, std::move(label));
}
template <class B>
LayerPtr<B> LayerFactories<B>::conv2d(const Conv2dOptions& options, uint64_t seed, std::string label) {
  return std::make_unique<typename LayerClasses<B>::Conv2d>(options, seed, std::move(label));
}
template <class B>
LayerPtr<B> LayerFactories<B>::batch_norm2d(int64_t channels, std::string label, float eps, float momentum) {
  return std::make_unique<typename LayerClasses<B>::BatchNorm>(2, channels, std::move(label), eps, momentum);
}
template <class B>
LayerPtr<B> LayerFactories<B>::batch_norm1d(int64_t channels, std::string label, float eps, float momentum,
                                            bool affine) {
  return std::make_unique<typename LayerClasses<B>::BatchNorm>(1, channels, std::move(label), eps, momentum, affine);
}
template <class B>
LayerPtr<B> LayerFactories<B>::layer_norm(int64_t features, std::string label, float eps) {
  return std::make_unique<typename LayerClasses<B>::LayerNorm>(features, std::move(label), eps);
}
template <class B>
LayerPtr<B> LayerFactories<B>::relu() {
  return std::make_unique<typename LayerClasses<B>::Activation>(kernels::Activation::relu);
}
template <class B>
LayerPtr<B> LayerFactories<B>::gelu() {
  return std::make_unique<typename LayerClasses<B>::Activation>(kernels::Activation::gelu);
}
template <class B>
LayerPtr<B> LayerFactories<B>::max_pool2d(const Pool2dOptions& options, std::string label) {
  using Pool2d = typename LayerClasses<B>::Pool2d;
  return std::make_unique<Pool2d>(Pool2d::Mode::max, options, std::move(label));
}
template <class B>
LayerPtr<B> LayerFactories<B>::avg_pool2d(const Pool2dOptions& options, std::string label) {
  using Pool2d = typename LayerClasses<B>::Pool2d;
  return std::make_unique<Pool2d>(Pool2d::Mode::average, options, std::move(label));
}
template <class B>
LayerPtr<B> LayerFactories<B>::global_avg_pool(std::string label) {
  return std::make_unique<typename LayerClasses<B>::GlobalAvgPool>(std::move(label));
}
template <class B>
LayerPtr<B> LayerFactories<B>::flatten() {
  return std::make_unique<shells::Flatten<B>>();
}
template <class B>
LayerPtr<B> LayerFactories<B>::dropout(float p, uint64_t seed, std::string label) {
  return std::make_unique<typename LayerClasses<B>::Dropout>(p, seed, std::move(label));
}
template <class B>
LayerPtr<B> LayerFactories<B>::softmax() {
  return std::make_unique<typename LayerClasses<B>::Softmax>();
}
template <class B>
LayerPtr<B> LayerFactories<B>::self_attention(int64_t dim, int64_t heads, uint64_t seed, std::string label) {
  return std::make_unique<typename LayerClasses<B>::SelfAttention>(dim, heads, seed, std::move(label));
}
template <class B>
LayerPtr<B> LayerFactories<B>::patch_embed(const PatchEmbedOptions& options, uint64_t seed, std::string label) {
  return std::make_unique<typename LayerClasses<B>::PatchEmbed>(options, seed, std::move(label));
}
template <class B>
LayerPtr<B> LayerFactories<B>::select_token(int64_t index) {
  return std::make_unique<typename LayerClasses<B>::SelectToken>(index);
}

}  // namespace tspipe::nn
