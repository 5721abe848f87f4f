#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/reshape.hpp>

namespace tspipe::cuda {

Tensor Flatten::infer(const Tensor& x) {
  detail::check_input(kind(), x, 1, /*at_least=*/true);
  return x.reshape({x.size(0), x.numel() / x.size(0)});
}

std::pair<Tensor, Context> Flatten::forward(const Tensor& x) {
  Context ctx;
  Tensor y = infer(x);
  ctx.tensors = {x};  // shares storage: only the shape is needed
  return {std::move(y), std::move(ctx)};
}

Tensor Flatten::backward(Context& ctx, const Tensor& dy) {
  detail::check_saved(kind(), ctx, 1);
  const Tensor& x = ctx.tensors[0];
  detail::check_grad(kind(), dy, {x.size(0), x.numel() / x.size(0)});
  return dy.reshape(x.shape());
}

void SelectToken::check(const Tensor& x) const {
  detail::check_input(kind(), x, 3);
  if (index_ < 0 || index_ >= x.size(1))
    throw Error(kind() + ": token " + std::to_string(index_) + " out of range for input " + nn::to_string(x.shape()));
}

Tensor SelectToken::infer(const Tensor& x) {
  check(x);
  Tensor y({x.size(0), x.size(2)});
  launch::select_token_forward(x.data(), y.data(), x.size(0), x.size(1), x.size(2), index_, detail::stream());
  return y;
}

std::pair<Tensor, Context> SelectToken::forward(const Tensor& x) {
  Context ctx;
  Tensor y = infer(x);
  ctx.tensors = {x};
  return {std::move(y), std::move(ctx)};
}

Tensor SelectToken::backward(Context& ctx, const Tensor& dy) {
  detail::check_saved(kind(), ctx, 1);
  const Tensor& x = ctx.tensors[0];
  detail::check_grad(kind(), dy, {x.size(0), x.size(2)});
  Tensor dx(x.shape());
  launch::select_token_backward(dy.data(), dx.data(), x.size(0), x.size(1), x.size(2), index_, detail::stream());
  return dx;
}

Backend::LayerPtr Backend::flatten() { return std::make_unique<Flatten>(); }
Backend::LayerPtr Backend::select_token(int64_t index) { return std::make_unique<SelectToken>(index); }

}  // namespace tspipe::cuda
