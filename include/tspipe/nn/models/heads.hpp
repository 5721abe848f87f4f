#pragma once
// MLP heads of self-supervised recipes (docs/design.md): BYOL's projector and predictor
// (Linear → BN → ReLU → Linear), MoCo-v3's 3-layer projector and 2-layer predictor.
// One head is one block, its parameters named "<name>.<k>.<param>" (k the position in the head,
// as torch.nn.Sequential numbers them), so a momentum teacher built with the same name and seed
// pairs with the student's head by name.
#include <tspipe/error.hpp>
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/options.hpp>

#include <string>

namespace tspipe::nn::models {

struct MlpHeadConfig {
  std::string name = "projector";
  int64_t in_features = 0;
  int64_t hidden_features = 0;
  int64_t out_features = 0;
  int layers = 2;   ///< Linear layers; every one but the last is followed by BatchNorm and ReLU
  uint64_t seed = 0;
};

template <class B>
LayerPtr<B> mlp_head(const MlpHeadConfig& c) {
  if (c.in_features <= 0 || c.hidden_features <= 0 || c.out_features <= 0)
    throw Error("MLP head '" + c.name + "': features must be positive, got " + std::to_string(c.in_features) + " → " +
                std::to_string(c.hidden_features) + " → " + std::to_string(c.out_features));
  if (c.layers < 1) throw Error("MLP head '" + c.name + "': needs at least one layer, got " + std::to_string(c.layers));
  SeedSequence seeds(c.seed);
  auto head = std::make_unique<Sequential<B>>();
  int64_t in = c.in_features;
  for (int i = 0; i + 1 < c.layers; ++i) {
    const std::string prefix = c.name + "." + std::to_string(head->size());
    // No bias before BatchNorm: its shift makes one redundant.
    head->add(B::linear(in, c.hidden_features, false, seeds.next(), prefix));
    head->add(B::batch_norm1d(c.hidden_features, c.name + "." + std::to_string(head->size())));
    head->add(B::relu());
    in = c.hidden_features;
  }
  head->add(B::linear(in, c.out_features, true, seeds.next(), c.name + "." + std::to_string(head->size())));
  return named<B>(c.name, std::move(head));
}

}  // namespace tspipe::nn::models
