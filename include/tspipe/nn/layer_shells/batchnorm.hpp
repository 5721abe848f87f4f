#pragma once
// The backend-generic part of BatchNorm over axis 1 of [N, C, ...] (BatchNorm2d: [N, C, H, W];
// BatchNorm1d: [N, C] or [N, C, L]): argument and input checks, messages, parameters "weight" (γ)
// and "bias" (β), buffers "running_mean" and "running_var". The semantics (batch statistics in
// training mode, forward() updating the running statistics with
// running = (1 − momentum)·running + momentum·batch, unbiased variance) are each backend's to
// compute: a backend derives from BatchNormShell<Backend> and writes infer, forward and backward
// side by side in its own file, calling init_parameters() in its constructor after any checks of
// its own.
//
// Without affine parameters (affine = false, PyTorch's BatchNorm1d(affine=False), MoCo-v3's last
// projector layer) the layer is y = (x − mean)/√(var + eps): γ = 1 and β = 0 stay in place for the
// backends' kernels (cuDNN reads them) but are not parameters, so no optimizer, checkpoint or
// momentum-teacher update sees them; the backward writes their gradients to scratch.
#include <tspipe/nn/layer_shells/checks.hpp>
#include <tspipe/nn/layer_shells/parameters.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::nn::shells {

template <class B>
class BatchNormShell : public Layer<B>, public AffineParameters<B> {
 public:
  /// spatial_rank 2 → BatchNorm2d (input rank 4); spatial_rank 1 → BatchNorm1d (rank 2 or 3).
  BatchNormShell(int spatial_rank, int64_t channels, std::string label, float eps, float momentum, bool affine)
      : spatial_rank_(spatial_rank), channels_(channels), label_(std::move(label)), eps_(eps), momentum_(momentum),
        affine_(affine) {
    if (channels_ <= 0) throw Error(who() + ": channels must be positive, got " + std::to_string(channels_));
    if (!(eps_ > 0.0f) || !(momentum_ >= 0.0f && momentum_ <= 1.0f))
      throw Error(who() + ": eps must be > 0 and momentum in [0, 1]");
  }

  std::string kind() const override { return spatial_rank_ == 2 ? "BatchNorm2d" : "BatchNorm1d"; }
  std::vector<Parameter<B>> parameters() override {
    return affine_ ? this->affine_parameters() : std::vector<Parameter<B>>{};
  }
  bool affine() const { return affine_; }
  std::vector<Buffer<B>> buffers() override { return {{"running_mean", &running_mean}, {"running_var", &running_var}}; }

  TensorOf<B> running_mean, running_var;

 protected:
  std::string who() const { return describe(kind(), label_); }
  /// γ = 1, β = 0, zero gradients, running mean 0 and variance 1.
  void init_parameters() {
    this->init_affine(channels_);
    running_mean = TensorOf<B>::zeros({channels_});
    running_var = TensorOf<B>::full({channels_}, 1.0f);
  }
  /// Throws unless x has this layer's rank and channel count.
  void check(const TensorOf<B>& x) const {
    if (spatial_rank_ == 2) {
      check_input(who(), x, 4);
    } else {
      check_input(who(), x, 2, /*at_least=*/true);
      if (x.dim() > 3) throw Error(who() + ": input has shape " + to_string(x.shape()) + ", expected 2 or 3 axes");
    }
    if (x.size(1) != channels_)
      throw Error(who() + ": input has " + std::to_string(x.size(1)) + " channels, expected " +
                  std::to_string(channels_) + " (input shape " + to_string(x.shape()) + ")");
  }
  /// Batch statistics need at least two values per channel (`per_channel` = N · spatial size).
  void check_batch_statistics(const TensorOf<B>& x, int64_t per_channel) const {
    if (per_channel < 2)
      throw Error(who() + ": training needs more than one value per channel, input shape " + to_string(x.shape()));
  }
  int spatial_rank_;
  int64_t channels_;
  std::string label_;
  float eps_, momentum_;
  bool affine_;
};

}  // namespace tspipe::nn::shells
