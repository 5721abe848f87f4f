#include <tspipe/cpu/layers/reshape.hpp>

#include <cstring>

namespace tspipe::cpu {

void SelectToken::gather_token(const Tensor& x, Tensor& y) {
  const int64_t n = x.size(0), t = x.size(1), d = x.size(2);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(y.data() + i * d, x.data() + (i * t + index_) * d, static_cast<size_t>(d) * sizeof(float));
}

Tensor SelectToken::scatter_token(const Tensor& dy, const nn::Shape& x_shape) {
  const int64_t n = x_shape[0], t = x_shape[1], d = x_shape[2];
  Tensor dx = Tensor::zeros(x_shape);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dx.data() + (i * t + index_) * d, dy.data() + i * d, static_cast<size_t>(d) * sizeof(float));
  return dx;
}

}  // namespace tspipe::cpu
