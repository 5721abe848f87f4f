#include <tspipe/cpu/layers/batchnorm.hpp>

#include <tspipe/cpu/parallel.hpp>
#include <tspipe/kernels/batchnorm.hpp>

#include <algorithm>
#include <cmath>

namespace tspipe::cpu {

BatchNorm::BatchNorm(int spatial_rank, int64_t channels, std::string label, float eps, float momentum, bool affine)
    : BatchNormShell(spatial_rank, channels, std::move(label), eps, momentum, affine) {
  init_parameters();
}

Tensor BatchNorm::normalize(const Tensor& x, bool batch_stats, Tensor& stats, Tensor* batch_var) const {
  const int64_t n = x.size(0), inner = x.numel() / (n * channels_);
  if (batch_stats) check_batch_statistics(x, n * inner);
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
  nn::shells::check_saved(who(), ctx, 3);
  const Tensor& x = ctx.tensors[0];
  const Tensor& stats = ctx.tensors[1];
  const bool batch_stats = ctx.tensors[2][0] != 0.0f;
  nn::shells::check_grad(who(), dy, x.shape());
  const int64_t n = x.size(0), inner = x.numel() / (n * channels_);
  Tensor dx(x.shape());
  parallel_for(channels_, std::max<int64_t>(1, kElementGrain / (n * inner)), [&](int64_t begin, int64_t end) {
    for (int64_t c = begin; c < end; ++c) {
      float scratch_dgamma = 0.0f, scratch_dbeta = 0.0f;  // without affine parameters nothing keeps them
      kernels::batchnorm_channel_backward(x.data(), dy.data(), dx.data(), n, channels_, inner, c, stats[c],
                                          stats[channels_ + c], weight[c], batch_stats,
                                          affine_ ? &weight_grad[c] : &scratch_dgamma,
                                          affine_ ? &bias_grad[c] : &scratch_dbeta);
    }
  });
  return dx;
}

}  // namespace tspipe::cpu
