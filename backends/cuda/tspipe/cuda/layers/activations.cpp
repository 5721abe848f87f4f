#include <tspipe/cuda/layers/activations.hpp>

namespace tspipe::cuda {

Tensor Activation::infer(const Tensor& x) {
  detail::check_input(kind(), x, 1, /*at_least=*/true);
  Tensor y(x.shape());
  launch::activation_forward(f_, x.data(), y.data(), x.numel(), detail::stream());
  return y;
}

std::pair<Tensor, Context> Activation::forward(const Tensor& x) {
  Context ctx;
  Tensor y = infer(x);
  ctx.tensors = {x};
  return {std::move(y), std::move(ctx)};
}

Tensor Activation::backward(Context& ctx, const Tensor& dy) {
  detail::check_saved(kind(), ctx, 1);
  const Tensor& x = ctx.tensors[0];
  detail::check_grad(kind(), dy, x.shape());
  Tensor dx(x.shape());
  launch::activation_backward(f_, x.data(), dy.data(), dx.data(), x.numel(), detail::stream());
  return dx;
}

Backend::LayerPtr Backend::relu() { return std::make_unique<Activation>(launch::Activation::relu); }
Backend::LayerPtr Backend::gelu() { return std::make_unique<Activation>(launch::Activation::gelu); }

}  // namespace tspipe::cuda
