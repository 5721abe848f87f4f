#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/dropout.hpp>

namespace tspipe::cuda {

Dropout::Dropout(float p, uint64_t seed, std::string label) : p_(p), seed_(seed), label_(std::move(label)) {
  if (!(p_ >= 0.0f && p_ < 1.0f))
    throw Error(detail::describe(kind(), label_) + ": probability " + std::to_string(p_) + " outside [0, 1)");
}

Tensor Dropout::mask(const nn::Shape& shape) {
  nn::Tensor m(shape);
  nn::Rng rng(seed_ ^ (0x632BE59BD9B4E019ull * ++calls_));
  const float keep_scale = 1.0f / (1.0f - p_);
  for (float& v : m.span()) v = rng.uniform() < p_ ? 0.0f : keep_scale;
  return Tensor::from_host(m);
}

Tensor Dropout::infer(const Tensor& x) {
  detail::check_input(detail::describe(kind(), label_), x, 1, /*at_least=*/true);
  if (!training_ || p_ == 0.0f) return x;
  const Tensor m = mask(x.shape());
  Tensor y(x.shape());
  launch::multiply(x.data(), m.data(), y.data(), x.numel(), detail::stream());
  return y;
}

std::pair<Tensor, Context> Dropout::forward(const Tensor& x) {
  detail::check_input(detail::describe(kind(), label_), x, 1, /*at_least=*/true);
  Context ctx;
  if (!training_ || p_ == 0.0f) return {x, std::move(ctx)};
  Tensor m = mask(x.shape());
  Tensor y(x.shape());
  launch::multiply(x.data(), m.data(), y.data(), x.numel(), detail::stream());
  ctx.tensors = {std::move(m)};
  return {std::move(y), std::move(ctx)};
}

Tensor Dropout::backward(Context& ctx, const Tensor& dy) {
  if (ctx.tensors.empty()) return dy;
  const Tensor& m = ctx.tensors[0];
  detail::check_grad(detail::describe(kind(), label_), dy, m.shape());
  Tensor dx(dy.shape());
  launch::multiply(dy.data(), m.data(), dx.data(), dy.numel(), detail::stream());
  return dx;
}

Backend::LayerPtr Backend::dropout(float p, uint64_t seed, std::string label) {
  return std::make_unique<Dropout>(p, seed, std::move(label));
}

}  // namespace tspipe::cuda
