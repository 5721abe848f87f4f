#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/layernorm.hpp>

namespace tspipe::cuda {

LayerNorm::LayerNorm(int64_t features, std::string label, float eps)
    : LayerNormShell(features, std::move(label), eps) {
  if (!(eps_ > 0.0f)) throw Error(who() + ": eps must be > 0, got " + std::to_string(eps_));
  init_parameters();
}

void LayerNorm::forward_rows(const Tensor& x, Tensor& y, Tensor* stats, int64_t rows) {
  launch::layernorm_forward(x.data(), weight.data(), bias.data(), y.data(), stats ? stats->data() : nullptr, rows,
                            features_, eps_, detail::stream());
}

void LayerNorm::backward_rows(const Tensor& x, const Tensor& stats, const Tensor& dy, Tensor& dx, int64_t rows) {
  Tensor workspace({launch::layernorm_backward_workspace(rows, features_)});
  launch::layernorm_backward(x.data(), weight.data(), dy.data(), stats.data(), dx.data(), weight_grad.data(),
                             bias_grad.data(), workspace.data(), rows, features_, detail::stream());
}

}  // namespace tspipe::cuda
