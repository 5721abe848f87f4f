#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/layers/conv2d.hpp>
#include <tspipe/cuda/layers/cudnn.hpp>

#include <cmath>

namespace tspipe::cuda {

namespace detail {
struct ConvPlan {
  TensorDesc x, y, bias;
  FilterDesc w;
  ConvDesc conv;
  nn::Shape out_shape;
  cudnnConvolutionFwdAlgo_t fwd{};
  cudnnConvolutionBwdDataAlgo_t bwd_data{};
  cudnnConvolutionBwdFilterAlgo_t bwd_filter{};
  size_t fwd_bytes = 0, bwd_data_bytes = 0, bwd_filter_bytes = 0;
};

namespace {
constexpr size_t kWorkspaceLimit = size_t{1} << 30;  // 1 GiB per convolution call

template <class Perf>
const Perf* pick(const Perf* perf, int count) {
  for (int i = 0; i < count; ++i)
    if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= kWorkspaceLimit) return &perf[i];
  return nullptr;
}

/// Workspace from the caching allocator (floats, rounded up); empty when not needed.
Tensor workspace(size_t bytes) {
  if (bytes == 0) return Tensor();
  return Tensor({static_cast<int64_t>((bytes + sizeof(float) - 1) / sizeof(float))});
}
}  // namespace
}  // namespace detail

Conv2d::Conv2d(const nn::Conv2dOptions& options, uint64_t seed, std::string label)
    : opt_(options), label_(std::move(label)) {
  nn::shells::check_conv_options(who(), opt_);
  // Drawn on the host exactly as cpu::Conv2d's, so both backends start from the same weights.
  weight = Tensor::from_host(nn::shells::conv_initial_weight(opt_, seed));
  weight_grad = Tensor::zeros(weight.shape());
  if (opt_.bias) {
    bias = Tensor::from_host(nn::shells::conv_initial_bias(opt_, seed));
    bias_grad = Tensor::zeros({opt_.out_channels});
  }
}

Conv2d::~Conv2d() = default;

size_t Conv2d::cached_plans() const {
  std::lock_guard lock(mutex_);
  return plans_.size();
}

const detail::ConvPlan& Conv2d::plan(const Tensor& x) {
  const int64_t span = nn::shells::check_conv_input(who(), x, opt_);
  const bool tf32 = allow_tf32();
  std::vector<int64_t> key = x.shape();
  key.push_back(tf32 ? 1 : 0);
  std::lock_guard lock(mutex_);
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;

  auto p = std::make_unique<detail::ConvPlan>();
  const int64_t n = x.size(0), h = x.size(2), w = x.size(3);
  const int64_t oh = (h + 2 * opt_.padding - span) / opt_.stride + 1;
  const int64_t ow = (w + 2 * opt_.padding - span) / opt_.stride + 1;
  p->out_shape = {n, opt_.out_channels, oh, ow};
  p->x.set(n, opt_.in_channels, h, w);
  p->y.set(n, opt_.out_channels, oh, ow);
  p->bias.set(1, opt_.out_channels, 1, 1);
  p->w.set(opt_.out_channels, opt_.in_channels, opt_.kernel, opt_.kernel);
  const int pad = static_cast<int>(opt_.padding), stride = static_cast<int>(opt_.stride),
            dil = static_cast<int>(opt_.dilation);
  TSPIPE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv.get(), pad, pad, stride, stride, dil, dil,
                                                     CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  // FMA math keeps fp32 exact-ish (no TF32) unless the user allowed TF32.
  TSPIPE_CUDNN_CHECK(cudnnSetConvolutionMathType(p->conv.get(), tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH));
  int cn = 0, cc = 0, ch = 0, cw = 0;
  TSPIPE_CUDNN_CHECK(
      cudnnGetConvolution2dForwardOutputDim(p->conv.get(), p->x.get(), p->w.get(), &cn, &cc, &ch, &cw));
  if (cn != n || cc != opt_.out_channels || ch != oh || cw != ow)
    throw Error(who() + ": cuDNN computes output [" + std::to_string(cn) + ", " + std::to_string(cc) + ", " +
                std::to_string(ch) + ", " + std::to_string(cw) + "], expected " + nn::to_string(p->out_shape));

  cudnnHandle_t handle = cudnn_handle(current_stream());
  {
    cudnnConvolutionFwdAlgoPerf_t perf[CUDNN_CONVOLUTION_FWD_ALGO_COUNT];
    int count = 0;
    TSPIPE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, p->x.get(), p->w.get(), p->conv.get(),
                                                              p->y.get(), CUDNN_CONVOLUTION_FWD_ALGO_COUNT, &count,
                                                              perf));
    const auto* best = detail::pick(perf, count);
    if (!best) throw Error(who() + ": cuDNN offers no forward algorithm for input " + nn::to_string(x.shape()));
    p->fwd = best->algo;
    TSPIPE_CUDNN_CHECK(cudnnGetConvolutionForwardWorkspaceSize(handle, p->x.get(), p->w.get(), p->conv.get(),
                                                               p->y.get(), p->fwd, &p->fwd_bytes));
  }
  {
    cudnnConvolutionBwdDataAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT];
    int count = 0;
    TSPIPE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, p->w.get(), p->y.get(), p->conv.get(),
                                                                   p->x.get(), CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT,
                                                                   &count, perf));
    const auto* best = detail::pick(perf, count);
    if (!best) throw Error(who() + ": cuDNN offers no backward-data algorithm for input " + nn::to_string(x.shape()));
    p->bwd_data = best->algo;
    TSPIPE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataWorkspaceSize(handle, p->w.get(), p->y.get(), p->conv.get(),
                                                                    p->x.get(), p->bwd_data, &p->bwd_data_bytes));
  }
  {
    cudnnConvolutionBwdFilterAlgoPerf_t perf[CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT];
    int count = 0;
    TSPIPE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(
        handle, p->x.get(), p->y.get(), p->conv.get(), p->w.get(), CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, &count,
        perf));
    const auto* best = detail::pick(perf, count);
    if (!best)
      throw Error(who() + ": cuDNN offers no backward-filter algorithm for input " + nn::to_string(x.shape()));
    p->bwd_filter = best->algo;
    TSPIPE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, p->x.get(), p->y.get(), p->conv.get(),
                                                                      p->w.get(), p->bwd_filter,
                                                                      &p->bwd_filter_bytes));
  }
  return *plans_.emplace(std::move(key), std::move(p)).first->second;
}

Tensor Conv2d::infer(const Tensor& x) {
  const detail::ConvPlan& p = plan(x);
  Tensor y(p.out_shape);
  cudnnHandle_t handle = cudnn_handle(current_stream());
  Tensor ws = detail::workspace(p.fwd_bytes);
  const float one = 1.0f, zero = 0.0f;
  TSPIPE_CUDNN_CHECK(cudnnConvolutionForward(handle, &one, p.x.get(), x.data(), p.w.get(), weight.data(),
                                             p.conv.get(), p.fwd, ws.defined() ? ws.data() : nullptr, p.fwd_bytes,
                                             &zero, p.y.get(), y.data()));
  if (bias.defined())
    TSPIPE_CUDNN_CHECK(cudnnAddTensor(handle, &one, p.bias.get(), bias.data(), &one, p.y.get(), y.data()));
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
  const detail::ConvPlan& p = plan(x);
  detail::check_grad(who(), dy, p.out_shape);
  Tensor dx(x.shape());
  Tensor ws = detail::workspace(p.bwd_data_bytes);
  const float one = 1.0f, zero = 0.0f;
  TSPIPE_CUDNN_CHECK(cudnnConvolutionBackwardData(cudnn_handle(current_stream()), &one, p.w.get(), weight.data(),
                                                  p.y.get(), dy.data(), p.conv.get(), p.bwd_data,
                                                  ws.defined() ? ws.data() : nullptr, p.bwd_data_bytes, &zero,
                                                  p.x.get(), dx.data()));
  return dx;
}

void Conv2d::backward_weight(Context& ctx, const Tensor& dy) {
  detail::check_saved(who(), ctx, 1);
  const Tensor& x = ctx.tensors[0];
  const detail::ConvPlan& p = plan(x);
  detail::check_grad(who(), dy, p.out_shape);
  cudnnHandle_t handle = cudnn_handle(current_stream());
  Tensor ws = detail::workspace(p.bwd_filter_bytes);
  const float one = 1.0f;  // beta = 1: accumulate into the gradient
  TSPIPE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(handle, &one, p.x.get(), x.data(), p.y.get(), dy.data(),
                                                    p.conv.get(), p.bwd_filter, ws.defined() ? ws.data() : nullptr,
                                                    p.bwd_filter_bytes, &one, p.w.get(), weight_grad.data()));
  if (bias.defined())
    TSPIPE_CUDNN_CHECK(
        cudnnConvolutionBackwardBias(handle, &one, p.y.get(), dy.data(), &one, p.bias.get(), bias_grad.data()));
}

std::vector<Parameter> Conv2d::parameters() {
  return nn::shells::weight_and_bias<Backend>(weight, weight_grad, bias, bias_grad);
}

Backend::LayerPtr Backend::conv2d(const nn::Conv2dOptions& options, uint64_t seed, std::string label) {
  return std::make_unique<Conv2d>(options, seed, std::move(label));
}

}  // namespace tspipe::cuda
