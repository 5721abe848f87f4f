#pragma once
// LayerNorm over the last axis: y = (x − mean)·rstd·γ + β (a warp per row). Parameters "weight",
// "bias"; the forward saves x and per-row (mean, rstd). Checks, messages and parameters are
// nn::shells::LayerNormShell's; this is the compute.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/layernorm.hpp>

namespace tspipe::cuda {

class LayerNorm final : public nn::shells::LayerNormShell<Backend, LayerNorm> {
 public:
  LayerNorm(int64_t features, std::string label = "", float eps = 1e-6f);

 private:
  friend class nn::shells::LayerNormShell<Backend, LayerNorm>;
  void forward_rows(const Tensor& x, Tensor& y, Tensor* stats, int64_t rows);
  void backward_rows(const Tensor& x, const Tensor& stats, const Tensor& dy, Tensor& dx, int64_t rows);
};

}  // namespace tspipe::cuda
