#include <tspipe/cuda/gemm.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/linear.hpp>

namespace tspipe::cuda {

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias, uint64_t seed, std::string label)
    : LinearShell(in_features, out_features, std::move(label)) {
  // Initialised on the host exactly as cpu::Linear, so both backends start from the same weights.
  const float bound = init_bound();
  weight = Tensor::from_host(nn::Tensor::uniform({out_, in_}, seed, -bound, bound));
  weight_grad = Tensor::zeros({out_, in_});
  if (has_bias) {
    bias = Tensor::from_host(nn::Tensor::uniform({out_}, bias_seed(seed), -bound, bound));
    bias_grad = Tensor::zeros({out_});
  }
}

void Linear::forward_rows(const Tensor& x, Tensor& y, int64_t rows) {
  const Stream s = current_stream();
  gemm(s, false, true, rows, out_, in_, 1.0f, x.data(), in_, weight.data(), in_, 0.0f, y.data(), out_);
  if (bias.defined()) launch::add_bias_rows(y.data(), bias.data(), rows, out_, s.handle);
}

void Linear::backward_input_rows(const Tensor& dy, Tensor& dx, int64_t rows) {
  gemm(current_stream(), false, false, rows, in_, out_, 1.0f, dy.data(), out_, weight.data(), in_, 0.0f, dx.data(),
       in_);
}

void Linear::backward_weight_rows(const Tensor& x, const Tensor& dy, int64_t rows) {
  const Stream s = current_stream();
  gemm(s, true, false, out_, in_, rows, 1.0f, dy.data(), out_, x.data(), in_, 1.0f, weight_grad.data(), in_);
  if (bias.defined()) add_column_sums(s, dy.data(), rows, out_, out_, bias_grad.data());
}

}  // namespace tspipe::cuda
