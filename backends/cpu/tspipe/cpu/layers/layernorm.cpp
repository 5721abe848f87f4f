#include <tspipe/cpu/layers/layernorm.hpp>

#include <tspipe/cpu/parallel.hpp>
#include <tspipe/kernels/layernorm.hpp>

#include <algorithm>

namespace tspipe::cpu {

LayerNorm::LayerNorm(int64_t features, std::string label, float eps)
    : LayerNormShell(features, std::move(label), eps) {
  init_parameters();
}

void LayerNorm::forward_rows(const Tensor& x, Tensor& y, Tensor* stats, int64_t rows) {
  const int n = static_cast<int>(features_);
  // Rows are independent in the forward (the backward sums γ and β gradients over rows, so it
  // stays on one thread to keep that sum's order fixed).
  parallel_for(rows, std::max<int64_t>(1, kElementGrain / features_), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      kernels::layernorm_row_forward(x.data() + r * features_, weight.data(), bias.data(), y.data() + r * features_,
                                     n, eps_, stats ? stats->data() + 2 * r : nullptr,
                                     stats ? stats->data() + 2 * r + 1 : nullptr);
  });
}

void LayerNorm::backward_rows(const Tensor& x, const Tensor& stats, const Tensor& dy, Tensor& dx, int64_t rows) {
  for (int64_t r = 0; r < rows; ++r)
    kernels::layernorm_row_backward(x.data() + r * features_, weight.data(), dy.data() + r * features_,
                                    stats[2 * r], stats[2 * r + 1], static_cast<int>(features_),
                                    dx.data() + r * features_, weight_grad.data(), bias_grad.data());
}

}  // namespace tspipe::cpu
