#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/layers/conv2d.hpp>
#include <tspipe/cuda/layers/cudnn.hpp>

#include <cmath>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

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

/// The first algorithm cuDNN's heuristics rank for one direction of the convolution that succeeds
/// within kWorkspaceLimit, and its workspace size. `rank` and `workspace_size` are that direction's
/// pair of queries (cudnnGetConvolution<Forward|BackwardData|BackwardFilter>Algorithm_v7 and
/// ...WorkspaceSize), which take the same descriptors a, b, conv, d in the same order.
template <class Perf, class A, class B, class D>
std::pair<decltype(Perf::algo), size_t> choose(
    cudnnStatus_t (*rank)(cudnnHandle_t, A, B, cudnnConvolutionDescriptor_t, D, int, int*, Perf*),
    cudnnStatus_t (*workspace_size)(cudnnHandle_t, A, B, cudnnConvolutionDescriptor_t, D, decltype(Perf::algo),
                                    size_t*),
    int algorithms, cudnnHandle_t handle, A a, B b, cudnnConvolutionDescriptor_t conv, D d, const std::string& who,
    const std::string& what) {
  std::vector<Perf> perf(static_cast<size_t>(algorithms));
  int count = 0;
  check_cudnn(rank(handle, a, b, conv, d, algorithms, &count, perf.data()), ("ranking the " + what).c_str(), __FILE__,
              __LINE__);
  const Perf* best = pick(perf.data(), count);
  if (!best) throw Error(who + ": cuDNN offers no " + what);
  size_t bytes = 0;
  check_cudnn(workspace_size(handle, a, b, conv, d, best->algo, &bytes),
              ("sizing the workspace of the " + what).c_str(), __FILE__, __LINE__);
  return {best->algo, bytes};
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
  detail::set_nchw(p->x, n, opt_.in_channels, h, w);
  detail::set_nchw(p->y, n, opt_.out_channels, oh, ow);
  detail::set_nchw(p->bias, 1, opt_.out_channels, 1, 1);
  detail::set_filter(p->w, opt_.out_channels, opt_.in_channels, opt_.kernel, opt_.kernel);
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
  const auto algorithm = [&](const char* direction) {
    return std::string(direction) + " algorithm for input " + nn::to_string(x.shape());
  };
  std::tie(p->fwd, p->fwd_bytes) = detail::choose(
      cudnnGetConvolutionForwardAlgorithm_v7, cudnnGetConvolutionForwardWorkspaceSize, CUDNN_CONVOLUTION_FWD_ALGO_COUNT,
      handle, p->x.get(), p->w.get(), p->conv.get(), p->y.get(), who(), algorithm("forward"));
  std::tie(p->bwd_data, p->bwd_data_bytes) = detail::choose(
      cudnnGetConvolutionBackwardDataAlgorithm_v7, cudnnGetConvolutionBackwardDataWorkspaceSize,
      CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT, handle, p->w.get(), p->y.get(), p->conv.get(), p->x.get(),
      who(), algorithm("backward-data"));
  std::tie(p->bwd_filter, p->bwd_filter_bytes) = detail::choose(
      cudnnGetConvolutionBackwardFilterAlgorithm_v7, cudnnGetConvolutionBackwardFilterWorkspaceSize,
      CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT, handle, p->x.get(), p->y.get(), p->conv.get(), p->w.get(),
      who(), algorithm("backward-filter"));
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

std::pair<Tensor, Context> Conv2d::forward(const Tensor& x) { return nn::shells::saving<Backend>(infer(x), {x}); }

Tensor Conv2d::backward_input(Context& ctx, const Tensor& dy) {
  const Tensor& x = nn::shells::saved_tensor(who(), ctx);
  const detail::ConvPlan& p = plan(x);
  nn::shells::check_grad(who(), dy, p.out_shape);
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
  const Tensor& x = nn::shells::saved_tensor(who(), ctx);
  const detail::ConvPlan& p = plan(x);
  nn::shells::check_grad(who(), dy, p.out_shape);
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

}  // namespace tspipe::cuda
