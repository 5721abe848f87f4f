#include <tspipe/cpu/layers/reshape.hpp>

#include <cstring>

namespace tspipe::cpu {

Tensor Flatten::infer(const Tensor& x) {
  detail::check_input(kind(), x, 1, /*at_least=*/true);
  return x.reshape({x.size(0), x.numel() / x.size(0)});
}

std::pair<Tensor, Context> Flatten::forward(const Tensor& x) {
  Context ctx;
  Tensor y = infer(x);
  ctx.tensors = {x};  // only its shape is needed; the storage is shared, so this costs nothing
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
  const int64_t n = x.size(0), t = x.size(1), d = x.size(2);
  Tensor y({n, d});
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(y.data() + i * d, x.data() + (i * t + index_) * d, static_cast<size_t>(d) * sizeof(float));
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
  const int64_t n = x.size(0), t = x.size(1), d = x.size(2);
  detail::check_grad(kind(), dy, {n, d});
  Tensor dx = Tensor::zeros(x.shape());
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(dx.data() + (i * t + index_) * d, dy.data() + i * d, static_cast<size_t>(d) * sizeof(float));
  return dx;
}

Backend::LayerPtr Backend::flatten() { return std::make_unique<Flatten>(); }
Backend::LayerPtr Backend::select_token(int64_t index) { return std::make_unique<SelectToken>(index); }

}  // namespace tspipe::cpu
