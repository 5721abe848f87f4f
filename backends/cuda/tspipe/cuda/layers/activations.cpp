#include <tspipe/cuda/layers/activations.hpp>

namespace tspipe::cuda {

void Activation::forward_elements(const Tensor& x, Tensor& y) {
  launch::activation_forward(f_, x.data(), y.data(), x.numel(), detail::stream());
}

void Activation::backward_elements(const Tensor& x, const Tensor& dy, Tensor& dx) {
  launch::activation_backward(f_, x.data(), dy.data(), dx.data(), x.numel(), detail::stream());
}

Backend::LayerPtr Backend::relu() { return std::make_unique<Activation>(launch::Activation::relu); }
Backend::LayerPtr Backend::gelu() { return std::make_unique<Activation>(launch::Activation::gelu); }

}  // namespace tspipe::cuda
