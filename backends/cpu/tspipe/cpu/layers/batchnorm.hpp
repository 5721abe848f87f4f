#pragma once
// BatchNorm over axis 1 of [N, C, ...] (BatchNorm2d: [N, C, H, W]; BatchNorm1d: [N, C] or [N, C, L]).
// Training mode normalises with the statistics of the (micro-)batch it is given — in a pipeline
// that is one micro-batch — and forward() (not infer()) updates the running statistics:
//   running = (1 − momentum)·running + momentum·batch   (variance unbiased, as PyTorch).
// Eval mode normalises with the running statistics.
// Parameters "weight" (γ), "bias" (β); buffers "running_mean", "running_var".
#include <tspipe/cpu/backend.hpp>

namespace tspipe::cpu {

class BatchNorm final : public Layer {
 public:
  /// spatial_rank 2 → BatchNorm2d (input rank 4); spatial_rank 1 → BatchNorm1d (rank 2 or 3).
  BatchNorm(int spatial_rank, int64_t channels, std::string label = "", float eps = 1e-5f,
            float momentum = 0.1f);

  std::string kind() const override { return spatial_rank_ == 2 ? "BatchNorm2d" : "BatchNorm1d"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
  std::vector<Parameter> parameters() override;
  std::vector<Buffer> buffers() override;

  Tensor weight, weight_grad, bias, bias_grad, running_mean, running_var;

 private:
  std::string who() const { return detail::describe(kind(), label_); }
  void check(const Tensor& x) const;
  /// Normalises x; fills stats [2, C] = (mean, rstd) used. Batch statistics when `batch_stats`.
  Tensor normalize(const Tensor& x, bool batch_stats, Tensor& stats, Tensor* batch_var) const;
  int spatial_rank_;
  int64_t channels_;
  std::string label_;
  float eps_, momentum_;
};

}  // namespace tspipe::cpu
