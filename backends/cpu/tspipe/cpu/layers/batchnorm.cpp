#include <tspipe/cpu/layers/batchnorm.hpp>

#include <tspipe/cpu/parallel.hpp>
#include <tspipe/kernels/batchnorm.hpp>

#include <algorithm>
#include <cmath>

namespace tspipe::cpu {

BatchNorm::BatchNorm(int spatial_rank, int64_t channels, std::string label, float eps, float momentum)
    : spatial_rank_(spatial_rank), channels_(channels), label_(std::move(label)), eps_(eps), momentum_(momentum) {
  if (channels_ <= 0) throw Error(who() + ": channels must be positive, got " + std::to_string(channels_));
  if (!(eps_ > 0.0f) || !(momentum_ >= 0.0f && momentum_ <= 1.0f))
    throw Error(who() + ": eps must be > 0 and momentum in [0, 1]");
  weight = Tensor::full({channels_}, 1.0f);
  bias = Tensor::zeros({channels_});
  weight_grad = Tensor::zeros({channels_});
  bias_grad = Tensor::zeros({channels_});
  running_mean = Tensor::zeros({channels_});
  running_var = Tensor::full({channels_}, 1.0f);
}

void BatchNorm::check(const Tensor& x) const {
  if (spatial_rank_ == 2) {
    detail::check_input(who(), x, 4);
  } else {
    detail::check_input(who(), x, 2, /*at_least=*/true);
    if (x.dim() > 3) throw Error(who() + ": input has shape " + nn::to_string(x.shape()) + ", expected 2 or 3 axes");
  }
  if (x.size(1) != channels_)
    throw Error(who() + ": input has " + std::to_string(x.size(1)) + " channels, expected " +
                std::to_string(channels_) + " (input shape " + nn::to_string(x.shape()) + ")");
}

Tensor BatchNorm::normalize(const Tensor& x, bool batch_stats, Tensor& stats, Tensor* batch_var) const {
  const int64_t n = x.size(0), inner = x.numel() / (n * channels_);
  if (batch_stats && n * inner < 2)
    throw Error(who() + ": training needs more than one value per channel, input shape " +
                nn::to_string(x.shape()));
  Tensor y(x.shape());
  stats = Tensor({2, channels_});
  // Channels are independent: each thread takes a range of them (whole channels, so every
  // channel's sums run in the same order whatever the thread count).
  parallel_for(channels_, std::max<int64_t>(1, kElementGrain / (n * inner)), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      float mean, var;
      if (batch_stats) {
        kernels::batchnorm_channel_moments(x.data(), n, channels_, inner, c, &mean, &var);
        if (batch_var) (*batch_var)[c] = var;
      } else {
        mean = running_mean[c];
        var = running_var[c];
      }
      const float rstd = 1.0f / std::sqrt(var + eps_);
      const float scale = weight[c] * rstd;
      kernels::batchnorm_channel_apply(x.data(), y.data(), n, channels_, inner, c, scale, bias[c] - mean * scale);
      stats[c] = mean;
      stats[channels_ + c] = rstd;
    }
  });
  return y;
}

Tensor BatchNorm::infer(const Tensor& x) {
  check(x);
  Tensor stats;
  return normalize(x, training_, stats, nullptr);
}

std::pair<Tensor, Context> BatchNorm::forward(const Tensor& x) {
  check(x);
  Context ctx;
  Tensor stats, batch_var({channels_});
  Tensor y = normalize(x, training_, stats, &batch_var);
  if (training_) {
    const int64_t count = x.numel() / channels_;
    const float unbias = static_cast<float>(count) / static_cast<float>(count - 1);
    for (int64_t c = 0; c < channels_; ++c) {
      running_mean[c] = (1.0f - momentum_) * running_mean[c] + momentum_ * stats[c];
      running_var[c] = (1.0f - momentum_) * running_var[c] + momentum_ * batch_var[c] * unbias;
    }
  }
  ctx.tensors = {x, stats, Tensor::full({1}, training_ ? 1.0f : 0.0f)};
  return {std::move(y), std::move(ctx)};
}

Tensor BatchNorm::backward(Context& ctx, const Tensor& dy) {
  detail::check_saved(who(), ctx, 3);
  const Tensor& x = ctx.tensors[0];
  const Tensor& stats = ctx.tensors[1];
  const bool batch_stats = ctx.tensors[2][0] != 0.0f;
  detail::check_grad(who(), dy, x.shape());
  const int64_t n = x.size(0), inner = x.numel() / (n * channels_);
  Tensor dx(x.shape());
  parallel_for(channels_, std::max<int64_t>(1, kElementGrain / (n * inner)), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c)
      kernels::batchnorm_channel_backward(x.data(), dy.data(), dx.data(), n, channels_, inner, c, stats[c],
                                          stats[channels_ + c], weight[c], batch_stats, &weight_grad[c],
                                          &bias_grad[c]);
  });
  return dx;
}

std::vector<Parameter> BatchNorm::parameters() {
  return {{"weight", &weight, &weight_grad, true}, {"bias", &bias, &bias_grad, true}};
}
std::vector<Buffer> BatchNorm::buffers() {
  return {{"running_mean", &running_mean}, {"running_var", &running_var}};
}

Backend::LayerPtr Backend::batch_norm2d(int64_t channels, std::string label, float eps, float momentum) {
  return std::make_unique<BatchNorm>(2, channels, std::move(label), eps, momentum);
}
Backend::LayerPtr Backend::batch_norm1d(int64_t channels, std::string label, float eps, float momentum) {
  return std::make_unique<BatchNorm>(1, channels, std::move(label), eps, momentum);
}

}  // namespace tspipe::cpu
