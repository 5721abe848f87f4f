#include <tspipe/cpu/layers/softmax.hpp>

#include <tspipe/kernels/softmax.hpp>

namespace tspipe::cpu {

void Softmax::forward_rows(const Tensor& x, Tensor& y, int64_t rows, int64_t d) {
  for (int64_t r = 0; r < rows; ++r) kernels::softmax_row(x.data() + r * d, y.data() + r * d, static_cast<int>(d));
}

void Softmax::backward_rows(const Tensor& y, const Tensor& dy, Tensor& dx, int64_t rows, int64_t d) {
  for (int64_t r = 0; r < rows; ++r)
    kernels::softmax_row_backward(y.data() + r * d, dy.data() + r * d, dx.data() + r * d, static_cast<int>(d));
}

}  // namespace tspipe::cpu
