#pragma once
// LayerNorm over the last axis: [..., D] with learned γ ("weight") and β ("bias"). Checks,
// messages and parameters are nn::shells::LayerNormShell's; this is the compute.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer_shells/layernorm.hpp>

namespace tspipe::cpu {

class LayerNorm final : public nn::shells::LayerNormShell<Backend, LayerNorm> {
 public:
  LayerNorm(int64_t features, std::string label = "", float eps = 1e-6f);

 private:
  friend class nn::shells::LayerNormShell<Backend, LayerNorm>;
  void forward_rows(const Tensor& x, Tensor& y, Tensor* stats, int64_t rows);
  void backward_rows(const Tensor& x, const Tensor& stats, const Tensor& dy, Tensor& dx, int64_t rows);
};

}  // namespace tspipe::cpu
