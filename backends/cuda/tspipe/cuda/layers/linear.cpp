#include <tspipe/cuda/gemm.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/linear.hpp>

#include <cmath>

namespace tspipe::cuda {

Linear::Linear(int64_t in_features, int64_t out_features, bool has_bias, uint64_t seed, std::string label)
    : in_(in_features), out_(out_features), label_(std::move(label)) {
  if (in_ <= 0 || out_ <= 0)
    throw Error(who() + ": features must be positive, got in=" + std::to_string(in_) + " out=" + std::to_string(out_));
  // Initialised on the host exactly as cpu::Linear, so both backends start from the same weights.
  const float bound = 1.0f / std::sqrt(static_cast<float>(in_));
  weight = Tensor::from_host(nn::Tensor::uniform({out_, in_}, seed, -bound, bound));
  weight_grad = Tensor::zeros({out_, in_});
  if (has_bias) {
    bias = Tensor::from_host(nn::Tensor::uniform({out_}, seed ^ 0xB1A5ull, -bound, bound));
    bias_grad = Tensor::zeros({out_});
  }
}

void Linear::check(const Tensor& x) const {
  detail::check_input(who(), x, 1, /*at_least=*/true);
  if (x.size(-1) != in_)
    throw Error(who() + ": input has " + std::to_string(x.size(-1)) + " features, expected " + std::to_string(in_) +
                " (input shape " + nn::to_string(x.shape()) + ")");
}

Tensor Linear::infer(const Tensor& x) {
  check(x);
  const int64_t rows = x.numel() / in_;
  nn::Shape out_shape = x.shape();
  out_shape.back() = out_;
  Tensor y(out_shape);
  const Stream s = current_stream();
  gemm(s, false, true, rows, out_, in_, 1.0f, x.data(), in_, weight.data(), in_, 0.0f, y.data(), out_);
  if (bias.defined()) launch::add_bias_rows(y.data(), bias.data(), rows, out_, s.handle);
  return y;
}

std::pair<Tensor, Context> Linear::forward(const Tensor& x) {
  Context ctx;
  Tensor y = infer(x);
  ctx.tensors = {x};
  return {std::move(y), std::move(ctx)};
}

Tensor Linear::backward(Context& ctx, const Tensor& dy) {
  Tensor dx = backward_input(ctx, dy);
  backward_weight(ctx, dy);
  return dx;
}

Tensor Linear::backward_input(Context& ctx, const Tensor& dy) {
  detail::check_saved(who(), ctx, 1);
  const Tensor& x = ctx.tensors[0];
  nn::Shape out_shape = x.shape();
  out_shape.back() = out_;
  detail::check_grad(who(), dy, out_shape);
  const int64_t rows = x.numel() / in_;
  Tensor dx(x.shape());
  gemm(current_stream(), false, false, rows, in_, out_, 1.0f, dy.data(), out_, weight.data(), in_, 0.0f, dx.data(),
       in_);
  return dx;
}

void Linear::backward_weight(Context& ctx, const Tensor& dy) {
  detail::check_saved(who(), ctx, 1);
  const Tensor& x = ctx.tensors[0];
  const int64_t rows = x.numel() / in_;
  if (dy.numel() != rows * out_) throw Error(who() + ": output gradient has shape " + nn::to_string(dy.shape()));
  const Stream s = current_stream();
  gemm(s, true, false, out_, in_, rows, 1.0f, dy.data(), out_, x.data(), in_, 1.0f, weight_grad.data(), in_);
  if (bias.defined()) add_column_sums(s, dy.data(), rows, out_, out_, bias_grad.data());
}

std::vector<Parameter> Linear::parameters() {
  std::vector<Parameter> p{{"weight", &weight, &weight_grad, false}};
  if (bias.defined()) p.push_back({"bias", &bias, &bias_grad, true});
  return p;
}

Backend::LayerPtr Backend::linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed,
                                  std::string label) {
  return std::make_unique<Linear>(in_features, out_features, bias, seed, std::move(label));
}

}  // namespace tspipe::cuda
