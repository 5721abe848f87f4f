#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/softmax.hpp>

namespace tspipe::cuda {

void Softmax::forward_rows(const Tensor& x, Tensor& y, int64_t rows, int64_t d) {
  launch::softmax_forward(x.data(), y.data(), rows, d, 1.0f, detail::stream());
}

void Softmax::backward_rows(const Tensor& y, const Tensor& dy, Tensor& dx, int64_t rows, int64_t d) {
  launch::softmax_backward(y.data(), dy.data(), dx.data(), rows, d, detail::stream());
}

}  // namespace tspipe::cuda
