#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/reshape.hpp>

namespace tspipe::cuda {

void SelectToken::gather_token(const Tensor& x, Tensor& y) {
  launch::select_token_forward(x.data(), y.data(), x.size(0), x.size(1), x.size(2), index_, detail::stream());
}

Tensor SelectToken::scatter_token(const Tensor& dy, const nn::Shape& x_shape) {
  Tensor dx(x_shape);
  launch::select_token_backward(dy.data(), dx.data(), x_shape[0], x_shape[1], x_shape[2], index_, detail::stream());
  return dx;
}

}  // namespace tspipe::cuda
