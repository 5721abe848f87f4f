#include <tspipe/cpu/layers/pooling.hpp>

namespace tspipe::cpu {

Pool2d::Pool2d(Mode mode, const nn::Pool2dOptions& options, std::string label)
    : mode_(mode), opt_(options), label_(std::move(label)) {
  nn::shells::check_pool_options(who(), opt_);
}

kernels::PoolGeometry Pool2d::geometry(const Tensor& x) const {
  nn::shells::check_pool_input(who(), x, opt_);
  return {x.size(2), x.size(3), opt_.kernel, opt_.stride, opt_.padding};
}

Tensor Pool2d::infer(const Tensor& x) {
  const auto g = geometry(x);
  const int64_t planes = x.size(0) * x.size(1), in_plane = g.height * g.width, out_plane = g.out_h() * g.out_w();
  Tensor y({x.size(0), x.size(1), g.out_h(), g.out_w()});
  for (int64_t p = 0; p < planes; ++p) {
    if (mode_ == Mode::max)
      kernels::maxpool_plane_forward(x.data() + p * in_plane, g, y.data() + p * out_plane);
    else
      kernels::avgpool_plane_forward(x.data() + p * in_plane, g, y.data() + p * out_plane);
  }
  return y;
}

std::pair<Tensor, Context> Pool2d::forward(const Tensor& x) { return nn::shells::saving<Backend>(infer(x), {x}); }

Tensor Pool2d::backward(Context& ctx, const Tensor& dy) {
  const Tensor& x = nn::shells::saved_tensor(who(), ctx);
  const auto g = geometry(x);
  nn::shells::check_grad(who(), dy, {x.size(0), x.size(1), g.out_h(), g.out_w()});
  const int64_t planes = x.size(0) * x.size(1), in_plane = g.height * g.width, out_plane = g.out_h() * g.out_w();
  Tensor dx = Tensor::zeros(x.shape());
  for (int64_t p = 0; p < planes; ++p) {
    if (mode_ == Mode::max)
      kernels::maxpool_plane_backward(x.data() + p * in_plane, dy.data() + p * out_plane, g, dx.data() + p * in_plane);
    else
      kernels::avgpool_plane_backward(dy.data() + p * out_plane, g, dx.data() + p * in_plane);
  }
  return dx;
}

void GlobalAvgPool::forward_planes(const Tensor& x, Tensor& y, int64_t planes, int64_t plane) {
  for (int64_t p = 0; p < planes; ++p) {
    const float* src = x.data() + p * plane;
    float s = 0.0f;
    for (int64_t i = 0; i < plane; ++i) s += src[i];
    y[p] = s / static_cast<float>(plane);
  }
}

void GlobalAvgPool::backward_planes(const Tensor& dy, Tensor& dx, int64_t planes, int64_t plane) {
  for (int64_t p = 0; p < planes; ++p) {
    const float share = dy[p] / static_cast<float>(plane);
    float* dst = dx.data() + p * plane;
    for (int64_t i = 0; i < plane; ++i) dst[i] = share;
  }
}

}  // namespace tspipe::cpu
