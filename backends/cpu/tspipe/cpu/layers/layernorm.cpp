#include <tspipe/cpu/layers/layernorm.hpp>

#include <tspipe/cpu/parallel.hpp>
#include <tspipe/kernels/layernorm.hpp>

#include <algorithm>

namespace tspipe::cpu {

LayerNorm::LayerNorm(int64_t features, std::string label, float eps)
    : features_(features), label_(std::move(label)), eps_(eps) {
  if (features_ <= 0) throw Error(who() + ": features must be positive, got " + std::to_string(features_));
  weight = Tensor::full({features_}, 1.0f);
  bias = Tensor::zeros({features_});
  weight_grad = Tensor::zeros({features_});
  bias_grad = Tensor::zeros({features_});
}

Tensor LayerNorm::run(const Tensor& x, Tensor* stats) {
  detail::check_input(who(), x, 1, /*at_least=*/true);
  if (x.size(-1) != features_)
    throw Error(who() + ": input has " + std::to_string(x.size(-1)) + " features, expected " +
                std::to_string(features_) + " (input shape " + nn::to_string(x.shape()) + ")");
  const int64_t rows = x.numel() / features_;
  const int n = static_cast<int>(features_);
  Tensor y(x.shape());
  if (stats) *stats = Tensor({rows, 2});
  // Rows are independent in the forward (the backward sums γ and β gradients over rows, so it
  // stays on one thread to keep that sum's order fixed).
  parallel_for(rows, std::max<int64_t>(1, kElementGrain / features_), [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      kernels::layernorm_row_forward(x.data() + r * features_, weight.data(), bias.data(), y.data() + r * features_,
                                     n, eps_, stats ? stats->data() + 2 * r : nullptr,
                                     stats ? stats->data() + 2 * r + 1 : nullptr);
  });
  return y;
}

Tensor LayerNorm::infer(const Tensor& x) { return run(x, nullptr); }

std::pair<Tensor, Context> LayerNorm::forward(const Tensor& x) {
  Context ctx;
  Tensor stats;
  Tensor y = run(x, &stats);
  ctx.tensors = {x, std::move(stats)};
  return {std::move(y), std::move(ctx)};
}

Tensor LayerNorm::backward(Context& ctx, const Tensor& dy) {
  detail::check_saved(who(), ctx, 2);
  const Tensor& x = ctx.tensors[0];
  const Tensor& stats = ctx.tensors[1];
  detail::check_grad(who(), dy, x.shape());
  const int64_t rows = x.numel() / features_;
  Tensor dx(x.shape());
  for (int64_t r = 0; r < rows; ++r)
    kernels::layernorm_row_backward(x.data() + r * features_, weight.data(), dy.data() + r * features_,
                                    stats[2 * r], stats[2 * r + 1], static_cast<int>(features_),
                                    dx.data() + r * features_, weight_grad.data(), bias_grad.data());
  return dx;
}

std::vector<Parameter> LayerNorm::parameters() {
  return {{"weight", &weight, &weight_grad, true}, {"bias", &bias, &bias_grad, true}};
}

Backend::LayerPtr Backend::layer_norm(int64_t features, std::string label, float eps) {
  return std::make_unique<LayerNorm>(features, std::move(label), eps);
}

}  // namespace tspipe::cpu
