#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/batchnorm.hpp>
#include <tspipe/cuda/layers/cudnn.hpp>

namespace tspipe::cuda {

namespace detail {
struct BatchNormPlan {
  TensorDesc x, param;
  int64_t n = 0, inner = 0;
};
}  // namespace detail

namespace {
constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;
}

BatchNorm::BatchNorm(int spatial_rank, int64_t channels, std::string label, float eps, float momentum, bool affine)
    : BatchNormShell(spatial_rank, channels, std::move(label), eps, momentum, affine) {
  if (static_cast<double>(eps_) < CUDNN_BN_MIN_EPSILON)
    throw Error(who() + ": eps " + std::to_string(eps_) + " is below cuDNN's minimum " +
                std::to_string(CUDNN_BN_MIN_EPSILON));
  init_parameters();
}

BatchNorm::~BatchNorm() = default;

const detail::BatchNormPlan& BatchNorm::plan(const Tensor& x) {
  check(x);
  std::lock_guard lock(mutex_);
  auto it = plans_.find(x.shape());
  if (it != plans_.end()) return *it->second;
  auto p = std::make_unique<detail::BatchNormPlan>();
  p->n = x.size(0);
  p->inner = x.numel() / (p->n * channels_);
  // [N, C, H, W] as is; [N, C] and [N, C, L] as [N, C, L, 1].
  if (x.dim() == 4)
    detail::set_nchw(p->x, p->n, channels_, x.size(2), x.size(3));
  else
    detail::set_nchw(p->x, p->n, channels_, p->inner, 1);
  TSPIPE_CUDNN_CHECK(cudnnDeriveBNTensorDescriptor(p->param.get(), p->x.get(), kMode));
  return *plans_.emplace(x.shape(), std::move(p)).first->second;
}

Tensor BatchNorm::normalize(const Tensor& x, Tensor* stats, bool update_running) {
  const detail::BatchNormPlan& p = plan(x);
  Tensor y(x.shape());
  const Stream s = current_stream();
  cudnnHandle_t handle = cudnn_handle(s);
  const float one = 1.0f, zero = 0.0f;
  if (training_) {
    check_batch_statistics(x, p.n * p.inner);
    if (stats) *stats = Tensor({2, channels_});
    TSPIPE_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        handle, kMode, &one, &zero, p.x.get(), x.data(), p.x.get(), y.data(), p.param.get(), weight.data(),
        bias.data(), momentum_, update_running ? running_mean.data() : nullptr,
        update_running ? running_var.data() : nullptr, eps_, stats ? stats->data() : nullptr,
        stats ? stats->data() + channels_ : nullptr));
  } else {
    TSPIPE_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(handle, kMode, &one, &zero, p.x.get(), x.data(),
                                                               p.x.get(), y.data(), p.param.get(), weight.data(),
                                                               bias.data(), running_mean.data(), running_var.data(),
                                                               eps_));
    if (stats) {
      *stats = Tensor({2, channels_});
      launch::batchnorm_running_stats(running_mean.data(), running_var.data(), eps_, stats->data(), channels_,
                                      s.handle);
    }
  }
  return y;
}

Tensor BatchNorm::infer(const Tensor& x) { return normalize(x, nullptr, /*update_running=*/false); }

std::pair<Tensor, Context> BatchNorm::forward(const Tensor& x) {
  Context ctx;
  Tensor stats;
  Tensor y = normalize(x, &stats, /*update_running=*/training_);
  // The mode is kept on the host (reading a device flag would stall the stream): two saved
  // tensors = batch statistics; a third, undefined one marks running (eval-mode) statistics.
  ctx.tensors = {x, std::move(stats)};
  if (!training_) ctx.tensors.emplace_back();
  return {std::move(y), std::move(ctx)};
}

Tensor BatchNorm::backward(Context& ctx, const Tensor& dy) {
  nn::shells::check_saved(who(), ctx, 2);
  const Tensor& x = ctx.tensors[0];
  const Tensor& stats = ctx.tensors[1];
  nn::shells::check_grad(who(), dy, x.shape());
  const detail::BatchNormPlan& p = plan(x);
  const bool batch_stats = ctx.tensors.size() == 2;
  Tensor dx(x.shape());
  const Stream s = current_stream();
  if (batch_stats) {
    const float one = 1.0f, zero = 0.0f;
    // γ and β gradients accumulate (β_param = 1) when they are parameters, else overwrite scratch.
    TSPIPE_CUDNN_CHECK(cudnnBatchNormalizationBackward(
        cudnn_handle(s), kMode, &one, &zero, &one, affine_ ? &one : &zero, p.x.get(), x.data(), p.x.get(), dy.data(),
        p.x.get(), dx.data(), p.param.get(), weight.data(), weight_grad.data(), bias_grad.data(), eps_, stats.data(),
        stats.data() + channels_));
  } else {
    if (!affine_) {  // the kernel accumulates: keep the scratch gradients bounded
      launch::fill(weight_grad.data(), channels_, 0.0f, s.handle);
      launch::fill(bias_grad.data(), channels_, 0.0f, s.handle);
    }
    launch::batchnorm_backward(x.data(), dy.data(), dx.data(), stats.data(), weight.data(), p.n, channels_, p.inner,
                               /*batch_statistics=*/false, weight_grad.data(), bias_grad.data(), s.handle);
  }
  return dx;
}

}  // namespace tspipe::cuda
