#pragma once
// Parameter lists more than one layer shares, written once for every backend.
#include <tspipe/nn/layer.hpp>

#include <vector>

namespace tspipe::nn::shells {

/// "weight" (weight-decayed) and, when the layer has one, "bias" (not decayed): the parameters of
/// Linear and Conv2d, named as PyTorch names them so weights load by name.
template <class B>
std::vector<Parameter<B>> weight_and_bias(typename B::Tensor& weight, typename B::Tensor& weight_grad,
                                          typename B::Tensor& bias, typename B::Tensor& bias_grad) {
  std::vector<Parameter<B>> p{{"weight", &weight, &weight_grad, false}};
  if (bias.defined()) p.push_back({"bias", &bias, &bias_grad, true});
  return p;
}

}  // namespace tspipe::nn::shells
