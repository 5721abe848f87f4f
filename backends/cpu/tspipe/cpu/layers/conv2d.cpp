#include <tspipe/cpu/layers/conv2d.hpp>

#include <tspipe/cpu/gemm.hpp>

#include <cmath>
#include <vector>

namespace tspipe::cpu {

Conv2d::Conv2d(const nn::Conv2dOptions& options, uint64_t seed, std::string label)
    : opt_(options), label_(std::move(label)) {
  if (opt_.in_channels <= 0 || opt_.out_channels <= 0 || opt_.kernel <= 0 || opt_.stride <= 0 ||
      opt_.dilation <= 0 || opt_.padding < 0)
    throw Error(who() + ": invalid options in=" + std::to_string(opt_.in_channels) +
                " out=" + std::to_string(opt_.out_channels) + " kernel=" + std::to_string(opt_.kernel) +
                " stride=" + std::to_string(opt_.stride) + " padding=" + std::to_string(opt_.padding) +
                " dilation=" + std::to_string(opt_.dilation));
  const int64_t k2 = opt_.kernel * opt_.kernel;
  const float stddev = std::sqrt(2.0f / static_cast<float>(opt_.out_channels * k2));
  weight = Tensor::randn({opt_.out_channels, opt_.in_channels, opt_.kernel, opt_.kernel}, seed, stddev);
  weight_grad = Tensor::zeros(weight.shape());
  if (opt_.bias) {
    const float bound = 1.0f / std::sqrt(static_cast<float>(opt_.in_channels * k2));
    bias = Tensor::uniform({opt_.out_channels}, seed ^ 0xB1A5ull, -bound, bound);
    bias_grad = Tensor::zeros({opt_.out_channels});
  }
}

bool Conv2d::is_pointwise() const noexcept {
  return opt_.kernel == 1 && opt_.stride == 1 && opt_.padding == 0;
}

kernels::ConvGeometry Conv2d::geometry(const Tensor& x) const {
  detail::check_input(who(), x, 4);
  if (x.size(1) != opt_.in_channels)
    throw Error(who() + ": input has " + std::to_string(x.size(1)) + " channels, expected " +
                std::to_string(opt_.in_channels) + " (input shape " + nn::to_string(x.shape()) + ")");
  kernels::ConvGeometry g{opt_.in_channels, x.size(2), x.size(3), opt_.kernel, opt_.kernel,
                          opt_.stride, opt_.stride, opt_.padding, opt_.padding, opt_.dilation, opt_.dilation};
  const int64_t span = opt_.dilation * (opt_.kernel - 1) + 1;
  if (g.height + 2 * g.pad_h < span || g.width + 2 * g.pad_w < span)
    throw Error(who() + ": input " + nn::to_string(x.shape()) + " is smaller than the kernel span " +
                std::to_string(span) + " (with padding " + std::to_string(opt_.padding) + ")");
  return g;
}

nn::Shape Conv2d::output_shape(const Tensor& x, const kernels::ConvGeometry& g) const {
  return {x.size(0), opt_.out_channels, g.out_h(), g.out_w()};
}

Tensor Conv2d::infer(const Tensor& x) {
  const auto g = geometry(x);
  Tensor y(output_shape(x, g));
  const int64_t batch = x.size(0), ck = opt_.in_channels * opt_.kernel * opt_.kernel;
  const int64_t pixels = g.out_h() * g.out_w(), image = opt_.in_channels * g.height * g.width;
  std::vector<float> col(is_pointwise() ? 0 : static_cast<size_t>(ck * pixels));
  for (int64_t n = 0; n < batch; ++n) {
    const float* src = x.data() + n * image;
    if (!is_pointwise()) {
      kernels::im2col(src, g, col.data());
      src = col.data();
    }
    float* yn = y.data() + n * opt_.out_channels * pixels;
    gemm(false, false, opt_.out_channels, pixels, ck, 1.0f, weight.data(), ck, src, pixels, 0.0f, yn, pixels);
    if (bias.defined())
      for (int64_t o = 0; o < opt_.out_channels; ++o)
        for (int64_t p = 0; p < pixels; ++p) yn[o * pixels + p] += bias[o];
  }
  return y;
}

std::pair<Tensor, Context> Conv2d::forward(const Tensor& x) {
  Context ctx;
  Tensor y = infer(x);
  ctx.tensors = {x};
  return {std::move(y), std::move(ctx)};
}

Tensor Conv2d::backward(Context& ctx, const Tensor& dy) {
  Tensor dx = backward_input(ctx, dy);
  backward_weight(ctx, dy);
  return dx;
}

Tensor Conv2d::backward_input(Context& ctx, const Tensor& dy) {
  detail::check_saved(who(), ctx, 1);
  const Tensor& x = ctx.tensors[0];
  const auto g = geometry(x);
  detail::check_grad(who(), dy, output_shape(x, g));
  const int64_t batch = x.size(0), ck = opt_.in_channels * opt_.kernel * opt_.kernel;
  const int64_t pixels = g.out_h() * g.out_w(), image = opt_.in_channels * g.height * g.width;
  Tensor dx = Tensor::zeros(x.shape());
  std::vector<float> dcol(is_pointwise() ? 0 : static_cast<size_t>(ck * pixels));
  for (int64_t n = 0; n < batch; ++n) {
    const float* dyn = dy.data() + n * opt_.out_channels * pixels;
    float* dxn = dx.data() + n * image;
    // dcol = Wᵀ · dy_n; for a pointwise conv it is dx_n itself.
    float* dst = is_pointwise() ? dxn : dcol.data();
    gemm(true, false, ck, pixels, opt_.out_channels, 1.0f, weight.data(), ck, dyn, pixels, 0.0f, dst, pixels);
    if (!is_pointwise()) kernels::col2im_add(dcol.data(), g, dxn);
  }
  return dx;
}

void Conv2d::backward_weight(Context& ctx, const Tensor& dy) {
  detail::check_saved(who(), ctx, 1);
  const Tensor& x = ctx.tensors[0];
  const auto g = geometry(x);
  detail::check_grad(who(), dy, output_shape(x, g));
  const int64_t batch = x.size(0), ck = opt_.in_channels * opt_.kernel * opt_.kernel;
  const int64_t pixels = g.out_h() * g.out_w(), image = opt_.in_channels * g.height * g.width;
  std::vector<float> col(is_pointwise() ? 0 : static_cast<size_t>(ck * pixels));
  for (int64_t n = 0; n < batch; ++n) {
    const float* src = x.data() + n * image;
    if (!is_pointwise()) {
      kernels::im2col(src, g, col.data());
      src = col.data();
    }
    const float* dyn = dy.data() + n * opt_.out_channels * pixels;
    // dW += dy_n · col_nᵀ
    gemm(false, true, opt_.out_channels, ck, pixels, 1.0f, dyn, pixels, src, pixels, 1.0f,
         weight_grad.data(), ck);
    if (bias.defined())
      for (int64_t o = 0; o < opt_.out_channels; ++o) {
        float s = 0.0f;
        for (int64_t p = 0; p < pixels; ++p) s += dyn[o * pixels + p];
        bias_grad[o] += s;
      }
  }
}

std::vector<Parameter> Conv2d::parameters() {
  std::vector<Parameter> p{{"weight", &weight, &weight_grad, false}};
  if (bias.defined()) p.push_back({"bias", &bias, &bias_grad, true});
  return p;
}

Backend::LayerPtr Backend::conv2d(const nn::Conv2dOptions& options, uint64_t seed, std::string label) {
  return std::make_unique<Conv2d>(options, seed, std::move(label));
}

}  // namespace tspipe::cpu
