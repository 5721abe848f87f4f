#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/layernorm.hpp>

namespace tspipe::cuda {

LayerNorm::LayerNorm(int64_t features, std::string label, float eps)
    : features_(features), label_(std::move(label)), eps_(eps) {
  if (features_ <= 0) throw Error(who() + ": features must be positive, got " + std::to_string(features_));
  if (!(eps_ > 0.0f)) throw Error(who() + ": eps must be > 0, got " + std::to_string(eps_));
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
  Tensor y(x.shape());
  if (stats) *stats = Tensor({rows, 2});
  launch::layernorm_forward(x.data(), weight.data(), bias.data(), y.data(), stats ? stats->data() : nullptr, rows,
                            features_, eps_, detail::stream());
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
  Tensor workspace({launch::layernorm_backward_workspace(rows, features_)});
  launch::layernorm_backward(x.data(), weight.data(), dy.data(), stats.data(), dx.data(), weight_grad.data(),
                             bias_grad.data(), workspace.data(), rows, features_, detail::stream());
  return dx;
}

std::vector<Parameter> LayerNorm::parameters() {
  return {{"weight", &weight, &weight_grad, true}, {"bias", &bias, &bias_grad, true}};
}

Backend::LayerPtr Backend::layer_norm(int64_t features, std::string label, float eps) {
  return std::make_unique<LayerNorm>(features, std::move(label), eps);
}

}  // namespace tspipe::cuda
