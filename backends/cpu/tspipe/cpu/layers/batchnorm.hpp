#pragma once
// BatchNorm over axis 1 of [N, C, ...] (BatchNorm2d: [N, C, H, W]; BatchNorm1d: [N, C] or [N, C, L]).
// Training mode normalises with the statistics of the (micro-)batch it is given — in a pipeline
// that is one micro-batch — and forward() (not infer()) updates the running statistics:
//   running = (1 − momentum)·running + momentum·batch   (variance unbiased, as PyTorch).
// Eval mode normalises with the running statistics. affine = false: no γ, β (the shell's).
// Checks, messages, parameter and buffer names are nn::shells::BatchNormShell's.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer_shells/batchnorm.hpp>

namespace tspipe::cpu {

class BatchNorm final : public nn::shells::BatchNormShell<Backend> {
 public:
  BatchNorm(int spatial_rank, int64_t channels, std::string label = "", float eps = 1e-5f,
            float momentum = 0.1f, bool affine = true);

  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

 private:
  /// Normalises x; fills stats [2, C] = (mean, rstd) used. Batch statistics when `batch_stats`.
  Tensor normalize(const Tensor& x, bool batch_stats, Tensor& stats, Tensor* batch_var) const;
};

}  // namespace tspipe::cpu
