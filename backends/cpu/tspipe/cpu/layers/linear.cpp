#include <tspipe/cpu/layers/linear.hpp>

#include <tspipe/cpu/gemm.hpp>

namespace tspipe::cpu {

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias, uint64_t seed, std::string label)
    : LinearShell(in_features, out_features, std::move(label)) {
  const float bound = init_bound();
  weight = Tensor::uniform({out_, in_}, seed, -bound, bound);
  weight_grad = Tensor::zeros({out_, in_});
  if (has_bias) {
    bias = Tensor::uniform({out_}, bias_seed(seed), -bound, bound);
    bias_grad = Tensor::zeros({out_});
  }
}

void Linear::forward_rows(const Tensor& x, Tensor& y, int64_t rows) {
  gemm(false, true, rows, out_, in_, 1.0f, x.data(), in_, weight.data(), in_, 0.0f, y.data(), out_);
  if (bias.defined()) {
    const float* b = bias.data();
    for (int64_t r = 0; r < rows; ++r) {
      float* yr = y.data() + r * out_;
      for (int64_t j = 0; j < out_; ++j) yr[j] += b[j];
    }
  }
}

void Linear::backward_input_rows(const Tensor& dy, Tensor& dx, int64_t rows) {
  gemm(false, false, rows, in_, out_, 1.0f, dy.data(), out_, weight.data(), in_, 0.0f, dx.data(), in_);
}

void Linear::backward_weight_rows(const Tensor& x, const Tensor& dy, int64_t rows) {
  gemm(true, false, out_, in_, rows, 1.0f, dy.data(), out_, x.data(), in_, 1.0f, weight_grad.data(), in_);
  if (bias.defined()) {
    float* db = bias_grad.data();
    for (int64_t r = 0; r < rows; ++r) {
      const float* g = dy.data() + r * out_;
      for (int64_t j = 0; j < out_; ++j) db[j] += g[j];
    }
  }
}

}  // namespace tspipe::cpu
