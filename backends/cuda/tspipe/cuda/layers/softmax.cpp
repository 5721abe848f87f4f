#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/softmax.hpp>

namespace tspipe::cuda {

Tensor Softmax::infer(const Tensor& x) {
  detail::check_input(kind(), x, 1, /*at_least=*/true);
  const int64_t d = x.size(-1);
  Tensor y(x.shape());
  launch::softmax_forward(x.data(), y.data(), x.numel() / d, d, 1.0f, detail::stream());
  return y;
}

std::pair<Tensor, Context> Softmax::forward(const Tensor& x) {
  Context ctx;
  Tensor y = infer(x);
  ctx.tensors = {y};
  return {std::move(y), std::move(ctx)};
}

Tensor Softmax::backward(Context& ctx, const Tensor& dy) {
  detail::check_saved(kind(), ctx, 1);
  const Tensor& y = ctx.tensors[0];
  detail::check_grad(kind(), dy, y.shape());
  const int64_t d = y.size(-1);
  Tensor dx(y.shape());
  launch::softmax_backward(y.data(), dy.data(), dx.data(), y.numel() / d, d, detail::stream());
  return dx;
}

Backend::LayerPtr Backend::softmax() { return std::make_unique<Softmax>(); }

}  // namespace tspipe::cuda
