#pragma once
// Parameter lists more than one layer shares, written once for every backend.
#include <tspipe/nn/layer.hpp>

#include <cstdint>
#include <vector>

namespace tspipe::nn::shells {

/// "weight" (weight-decayed) and, when the layer has one, "bias" (not decayed): the parameters of
/// Linear and Conv2d, named as PyTorch names them so weights load by name.
template <class B>
std::vector<Parameter<B>> weight_and_bias(TensorOf<B>& weight, TensorOf<B>& weight_grad,
                                          TensorOf<B>& bias, TensorOf<B>& bias_grad) {
  std::vector<Parameter<B>> p{{"weight", &weight, &weight_grad, false}};
  if (bias.defined()) p.push_back({"bias", &bias, &bias_grad, true});
  return p;
}

/// The learned affine transform of a normalisation layer (BatchNorm, LayerNorm) over `features`
/// entries: γ "weight" = 1 and β "bias" = 0, both with zero gradients and both exempt from weight
/// decay, as PyTorch initialises and names them.
template <class B>
struct AffineParameters {
  TensorOf<B> weight, weight_grad, bias, bias_grad;

  void init_affine(int64_t features) {
    weight = TensorOf<B>::full({features}, 1.0f);
    bias = TensorOf<B>::zeros({features});
    weight_grad = TensorOf<B>::zeros({features});
    bias_grad = TensorOf<B>::zeros({features});
  }
  std::vector<Parameter<B>> affine_parameters() {
    return {{"weight", &weight, &weight_grad, true}, {"bias", &bias, &bias_grad, true}};
  }
};

}  // namespace tspipe::nn::shells
