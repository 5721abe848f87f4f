#include <tspipe/cuda/layers/activations.hpp>

namespace tspipe::cuda {

void Activation::forward_elements(const Tensor& x, Tensor& y) {
  launch::activation_forward(f_, x.data(), y.data(), x.numel(), detail::stream());
}

void Activation::backward_elements(const Tensor& x, const Tensor& dy, Tensor& dx) {
  launch::activation_backward(f_, x.data(), dy.data(), dx.data(), x.numel(), detail::stream());
}

}  // namespace tspipe::cuda
