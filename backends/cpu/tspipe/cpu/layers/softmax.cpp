#include <tspipe/cpu/layers/softmax.hpp>

#include <tspipe/kernels/softmax.hpp>

namespace tspipe::cpu {

Tensor Softmax::infer(const Tensor& x) {
  detail::check_input(kind(), x, 1, /*at_least=*/true);
  const int64_t d = x.size(-1), rows = x.numel() / d;
  Tensor y(x.shape());
  for (int64_t r = 0; r < rows; ++r) kernels::softmax_row(x.data() + r * d, y.data() + r * d, static_cast<int>(d));
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
  const int64_t d = y.size(-1), rows = y.numel() / d;
  Tensor dx(y.shape());
  for (int64_t r = 0; r < rows; ++r)
    kernels::softmax_row_backward(y.data() + r * d, dy.data() + r * d, dx.data() + r * d, static_cast<int>(d));
  return dx;
}

Backend::LayerPtr Backend::softmax() { return std::make_unique<Softmax>(); }

}  // namespace tspipe::cpu
