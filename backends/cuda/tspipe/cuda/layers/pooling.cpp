#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/cudnn.hpp>
#include <tspipe/cuda/layers/pooling.hpp>

namespace tspipe::cuda {

namespace detail {
struct PoolPlan {
  PoolDesc pool;
  TensorDesc x, y;
  nn::Shape out_shape;
};
}  // namespace detail

Pool2d::Pool2d(Mode mode, const nn::Pool2dOptions& options, std::string label)
    : mode_(mode), opt_(options), label_(std::move(label)) {
  nn::shells::check_pool_options(who(), opt_);
}

Pool2d::~Pool2d() = default;

const detail::PoolPlan& Pool2d::plan(const Tensor& x) {
  nn::shells::check_pool_input(who(), x, opt_);
  const int64_t h = x.size(2), w = x.size(3);
  std::lock_guard lock(mutex_);
  auto it = plans_.find(x.shape());
  if (it != plans_.end()) return *it->second;
  auto p = std::make_unique<detail::PoolPlan>();
  const int k = static_cast<int>(opt_.kernel), pad = static_cast<int>(opt_.padding), s = static_cast<int>(opt_.stride);
  TSPIPE_CUDNN_CHECK(cudnnSetPooling2dDescriptor(
      p->pool.get(), mode_ == Mode::max ? CUDNN_POOLING_MAX_DETERMINISTIC : CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING,
      CUDNN_PROPAGATE_NAN, k, k, pad, pad, s, s));
  const int64_t oh = (h + 2 * opt_.padding - opt_.kernel) / opt_.stride + 1;
  const int64_t ow = (w + 2 * opt_.padding - opt_.kernel) / opt_.stride + 1;
  p->out_shape = {x.size(0), x.size(1), oh, ow};
  detail::set_nchw(p->x, x.size(0), x.size(1), h, w);
  detail::set_nchw(p->y, x.size(0), x.size(1), oh, ow);
  return *plans_.emplace(x.shape(), std::move(p)).first->second;
}

Tensor Pool2d::infer(const Tensor& x) {
  const detail::PoolPlan& p = plan(x);
  Tensor y(p.out_shape);
  const float one = 1.0f, zero = 0.0f;
  TSPIPE_CUDNN_CHECK(cudnnPoolingForward(cudnn_handle(current_stream()), p.pool.get(), &one, p.x.get(), x.data(),
                                         &zero, p.y.get(), y.data()));
  return y;
}

std::pair<Tensor, Context> Pool2d::forward(const Tensor& x) {
  Context ctx;
  Tensor y = infer(x);
  ctx.tensors = {x, y};  // cuDNN's backward reads both
  return {std::move(y), std::move(ctx)};
}

Tensor Pool2d::backward(Context& ctx, const Tensor& dy) {
  nn::shells::check_saved(who(), ctx, 2);
  const Tensor& x = ctx.tensors[0];
  const Tensor& y = ctx.tensors[1];
  const detail::PoolPlan& p = plan(x);
  nn::shells::check_grad(who(), dy, p.out_shape);
  Tensor dx(x.shape());
  const float one = 1.0f, zero = 0.0f;
  TSPIPE_CUDNN_CHECK(cudnnPoolingBackward(cudnn_handle(current_stream()), p.pool.get(), &one, p.y.get(), y.data(),
                                          p.y.get(), dy.data(), p.x.get(), x.data(), &zero, p.x.get(), dx.data()));
  return dx;
}

void GlobalAvgPool::forward_planes(const Tensor& x, Tensor& y, int64_t planes, int64_t plane) {
  launch::global_avgpool_forward(x.data(), y.data(), planes, plane, detail::stream());
}

void GlobalAvgPool::backward_planes(const Tensor& dy, Tensor& dx, int64_t planes, int64_t plane) {
  launch::global_avgpool_backward(dy.data(), dx.data(), planes, plane, detail::stream());
}

}  // namespace tspipe::cuda
