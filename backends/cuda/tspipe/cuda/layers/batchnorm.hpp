#pragma once
// BatchNorm over axis 1 of [N, C, ...], with cpu::BatchNorm's semantics: training mode uses the
// micro-batch's statistics and forward() updates running_mean/var (momentum convention
// running = (1 − m)·running + m·batch, unbiased variance), eval mode uses the running statistics.
// cuDNN (spatial mode) runs the training forward/backward and the eval forward; the eval-mode
// backward, which cuDNN does not offer, is the backend's own kernel (launch::batchnorm_backward).
// eps must be ≥ CUDNN_BN_MIN_EPSILON (1e-5, PyTorch's default). affine = false: no γ, β (the
// shell's; cuDNN reads the fixed 1 and 0 and overwrites, rather than accumulates, their scratch
// gradients). Checks, messages, parameter and buffer names are nn::shells::BatchNormShell's.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/batchnorm.hpp>

#include <map>
#include <memory>
#include <mutex>

namespace tspipe::cuda {

namespace detail {
struct BatchNormPlan;
}

class BatchNorm final : public nn::shells::BatchNormShell<Backend> {
 public:
  BatchNorm(int spatial_rank, int64_t channels, std::string label = "", float eps = 1e-5f, float momentum = 0.1f,
            bool affine = true);
  ~BatchNorm() override;

  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

 private:
  const detail::BatchNormPlan& plan(const Tensor& x);
  /// y, and stats [2, C] = (mean, rstd) when `stats`; updates running stats when `update_running`.
  Tensor normalize(const Tensor& x, Tensor* stats, bool update_running);
  std::mutex mutex_;
  std::map<std::vector<int64_t>, std::unique_ptr<detail::BatchNormPlan>> plans_;
};

}  // namespace tspipe::cuda
