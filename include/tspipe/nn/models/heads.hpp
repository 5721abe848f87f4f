#pragma once
// MLP heads of self-supervised recipes (docs/ssl-recipes.md). Every hidden layer is
// Linear (no bias) → BatchNorm → ReLU; the head ends in a Linear and, optionally, a BatchNorm
// without affine parameters:
//   BYOL projector and predictor     Linear → BN → ReLU → Linear
//   MoCo-v3 ViT projector            Linear → BN → ReLU → Linear → BN → ReLU → Linear → BN(affine=False)
//   MoCo-v3 ViT predictor            Linear → BN → ReLU → Linear → BN(affine=False)
//   (MoCo-v3's ResNet heads: a 2-layer projector as the ViT's, a predictor without the final BN.)
// None of the Linear layers has a bias: MoCo-v3's code builds them without, BYOL's drops it on the
// output layer, and BYOL's bias before a BatchNorm has no effect (the batch mean removes it, so its
// gradient is zero and, exempt from weight decay, it never moves).
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
  bool output_bias = false;        ///< a bias on the last Linear (neither recipe has one)
  bool output_batch_norm = false;  ///< end in BatchNorm without affine parameters (MoCo-v3's)
};

template <class B>
LayerPtr<B> mlp_head(const MlpHeadConfig& c) {
  if (c.in_features <= 0 || c.hidden_features <= 0 || c.out_features <= 0)
    throw Error("MLP head '" + c.name + "': features must be positive, got " + std::to_string(c.in_features) + " → " +
                std::to_string(c.hidden_features) + " → " + std::to_string(c.out_features));
  if (c.layers < 1) throw Error("MLP head '" + c.name + "': needs at least one layer, got " + std::to_string(c.layers));
  SeedSequence seeds(c.seed);
  auto head = std::make_unique<Sequential<B>>();
  const auto position = [&] { return c.name + "." + std::to_string(head->size()); };
  int64_t in = c.in_features;
  for (int i = 0; i + 1 < c.layers; ++i) {
    head->add(B::linear(in, c.hidden_features, false, seeds.next(), position()));
    head->add(B::batch_norm1d(c.hidden_features, position()));
    head->add(B::relu());
    in = c.hidden_features;
  }
  head->add(B::linear(in, c.out_features, c.output_bias, seeds.next(), position()));
  if (c.output_batch_norm) head->add(B::batch_norm1d(c.out_features, position(), 1e-5f, 0.1f, /*affine=*/false));
  return named<B>(c.name, std::move(head));
}

}  // namespace tspipe::nn::models
