// Elementwise and layout kernels: fills, sums, activations, bias, token selection, global average
// pooling, ViT patch gather/scatter, attention head layouts, and BatchNorm's own backward.
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/kernels/activations.hpp>

#include <thrust/functional.h>

#include "common.cuh"

namespace tspipe::cuda::launch {

using namespace detail;  // common.cuh's launch helpers

namespace {

__global__ void fill_kernel(float* x, int64_t n, float v) {
  TSPIPE_GRID_STRIDE(i, n) x[i] = v;
}
__global__ void scale_kernel(float* x, int64_t n, float factor) {
  TSPIPE_GRID_STRIDE(i, n) x[i] *= factor;
}
/// y = op(a, b) elementwise; a or b may be y itself.
template <class Op>
__global__ void binary_kernel(const float* a, const float* b, float* y, int64_t n, Op op) {
  TSPIPE_GRID_STRIDE(i, n) y[i] = op(a[i], b[i]);
}
template <Activation F>
__global__ void activation_forward_kernel(const float* x, float* y, int64_t n) {
  TSPIPE_GRID_STRIDE(i, n) y[i] = F == Activation::relu ? kernels::relu(x[i]) : kernels::gelu(x[i]);
}
template <Activation F>
__global__ void activation_backward_kernel(const float* x, const float* dy, float* dx, int64_t n) {
  TSPIPE_GRID_STRIDE(i, n)
  dx[i] = F == Activation::relu ? kernels::relu_backward(x[i], dy[i]) : kernels::gelu_backward(x[i], dy[i]);
}
__global__ void add_bias_rows_kernel(float* y, const float* bias, int64_t rows, int64_t cols) {
  TSPIPE_GRID_STRIDE(i, rows * cols) y[i] += bias[i % cols];
}
__global__ void add_bias_channels_kernel(float* y, const float* bias, int64_t total, int64_t channels,
                                         int64_t plane) {
  TSPIPE_GRID_STRIDE(i, total) y[i] += bias[(i / plane) % channels];
}
__global__ void select_token_forward_kernel(const float* x, float* y, int64_t n, int64_t t, int64_t d,
                                            int64_t index) {
  TSPIPE_GRID_STRIDE(i, n * d) {
    const int64_t row = i / d, col = i % d;
    y[i] = x[(row * t + index) * d + col];
  }
}
__global__ void select_token_backward_kernel(const float* dy, float* dx, int64_t n, int64_t t, int64_t d,
                                             int64_t index) {
  TSPIPE_GRID_STRIDE(i, n * t * d) {
    const int64_t col = i % d, tok = (i / d) % t, row = i / (d * t);
    dx[i] = tok == index ? dy[row * d + col] : 0.0f;
  }
}
// A warp per plane.
__global__ void global_avgpool_forward_kernel(const float* x, float* y, int64_t planes, int64_t plane) {
  const int64_t warp = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / detail::kWarp;
  const int lane = threadIdx.x % detail::kWarp;
  if (warp >= planes) return;
  const float* p = x + warp * plane;
  float s = 0.0f;
  for (int64_t i = lane; i < plane; i += detail::kWarp) s += p[i];
  s = detail::warp_sum(s);
  if (lane == 0) y[warp] = s / static_cast<float>(plane);
}
__global__ void global_avgpool_backward_kernel(const float* dy, float* dx, int64_t planes, int64_t plane) {
  TSPIPE_GRID_STRIDE(i, planes * plane) dx[i] = dy[i / plane] / static_cast<float>(plane);
}
// patches[((i·side + gy)·side + gx), (ch·p + ky)·p + kx] ↔ x[i, ch, gy·p + ky, gx·p + kx]
__device__ __forceinline__ int64_t patch_source(int64_t idx, int64_t c, int64_t s, int64_t p) {
  const int64_t row = c * p * p, side = s / p;
  const int64_t r = idx / row, k = idx % row;
  const int64_t i = r / (side * side), gy = (r / side) % side, gx = r % side;
  const int64_t ch = k / (p * p), ky = (k / p) % p, kx = k % p;
  return ((i * c + ch) * s + gy * p + ky) * s + gx * p + kx;
}
__global__ void patch_gather_kernel(const float* x, float* patches, int64_t total, int64_t c, int64_t s, int64_t p) {
  TSPIPE_GRID_STRIDE(i, total) patches[i] = x[patch_source(i, c, s, p)];
}
__global__ void patch_scatter_kernel(const float* dp, float* dx, int64_t total, int64_t c, int64_t s, int64_t p) {
  TSPIPE_GRID_STRIDE(i, total) dx[patch_source(i, c, s, p)] = dp[i];
}
__global__ void patch_assemble_kernel(const float* projected, const float* cls, const float* pos, const float* bias,
                                      float* y, int64_t n, int64_t t, int64_t d, int64_t first) {
  TSPIPE_GRID_STRIDE(i, n * t * d) {
    const int64_t j = i % d, tok = (i / d) % t, img = i / (t * d);
    const float v = tok < first ? cls[j] : projected[(img * (t - first) + tok - first) * d + j] + bias[j];
    y[i] = v + pos[tok * d + j];
  }
}
__global__ void patch_extract_grad_kernel(const float* dy, float* dproj, int64_t n, int64_t t, int64_t d,
                                          int64_t first) {
  const int64_t per = t - first;
  TSPIPE_GRID_STRIDE(i, n * per * d) {
    const int64_t j = i % d, tok = (i / d) % per, img = i / (per * d);
    dproj[i] = dy[(img * t + tok + first) * d + j];
  }
}
__device__ __forceinline__ int64_t token_index(int64_t head_idx, int64_t ld, int64_t t, int64_t heads, int64_t hd) {
  const int64_t e = head_idx % hd, tau = (head_idx / hd) % t, h = (head_idx / (hd * t)) % heads,
                i = head_idx / (hd * t * heads);
  return (i * t + tau) * ld + h * hd + e;
}
/// Copies between the token layout (rows of stride ld) and the per-head layout, element i of the
/// per-head tensor at a time: to the heads (ToHeads) or back.
template <bool ToHeads>
__global__ void head_layout_kernel(const float* from, float* to, int64_t ld, int64_t total, int64_t t, int64_t heads,
                                   int64_t hd) {
  TSPIPE_GRID_STRIDE(i, total) {
    const int64_t token = token_index(i, ld, t, heads, hd);
    if (ToHeads)
      to[i] = from[token];
    else
      to[token] = from[i];
  }
}

// A block per channel: the sums of kernels::batchnorm_channel_backward, reduced in parallel, then
// its dx formula applied per element.
__global__ void batchnorm_backward_kernel(const float* x, const float* dy, float* dx, const float* stats,
                                          const float* gamma, int64_t n, int64_t channels, int64_t inner,
                                          bool batch_statistics, float* dgamma, float* dbeta) {
  const int64_t c = blockIdx.x;
  const float mean = stats[c], rstd = stats[channels + c];
  const int64_t count = n * inner;
  double s_dy = 0.0, s_dyx = 0.0;
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t off = ((k / inner) * channels + c) * inner + k % inner;
    const float g = dy[off];
    s_dy += g;
    s_dyx += g * ((x[off] - mean) * rstd);
  }
  __shared__ double sh_dy[kThreads], sh_dyx[kThreads];
  sh_dy[threadIdx.x] = s_dy;
  sh_dyx[threadIdx.x] = s_dyx;
  __syncthreads();
  for (int stride = blockDim.x / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) {
      sh_dy[threadIdx.x] += sh_dy[threadIdx.x + stride];
      sh_dyx[threadIdx.x] += sh_dyx[threadIdx.x + stride];
    }
    __syncthreads();
  }
  const double sum_dy = sh_dy[0], sum_dyx = sh_dyx[0];
  if (threadIdx.x == 0) {
    dgamma[c] += static_cast<float>(sum_dyx);
    dbeta[c] += static_cast<float>(sum_dy);
  }
  if (!dx) return;
  const float k_scale = gamma[c] * rstd;
  const float mean_dy = static_cast<float>(sum_dy / static_cast<double>(count));
  const float mean_dyx = static_cast<float>(sum_dyx / static_cast<double>(count));
  for (int64_t k = threadIdx.x; k < count; k += blockDim.x) {
    const int64_t off = ((k / inner) * channels + c) * inner + k % inner;
    if (!batch_statistics) {
      dx[off] = k_scale * dy[off];
    } else {
      const float xhat = (x[off] - mean) * rstd;
      dx[off] = k_scale * (dy[off] - mean_dy - xhat * mean_dyx);
    }
  }
}

__global__ void batchnorm_running_stats_kernel(const float* mean, const float* var, float eps, float* stats,
                                              int64_t channels) {
  TSPIPE_GRID_STRIDE(c, channels) {
    stats[c] = mean[c];
    stats[channels + c] = 1.0f / sqrtf(var[c] + eps);
  }
}

template <bool ToHeads>
void head_layout(const char* launcher, const float* from, float* to, int64_t ld, int64_t n, int64_t t, int64_t heads,
                 int64_t hd, cudaStream_t stream) {
  require(ld >= heads * hd, launcher, "row stride smaller than heads·head_dim");
  require_pointers(launcher, from, to);
  const int64_t total = n * heads * t * hd;
  head_layout_kernel<ToHeads><<<blocks_for(total), kThreads, 0, stream>>>(from, to, ld, total, t, heads, hd);
  TSPIPE_CUDA_LAUNCH_CHECK("head_layout_kernel");
}

template <class Op>
void binary(const char* launcher, const float* a, const float* b, float* y, int64_t n, cudaStream_t stream, Op op) {
  if (n <= 0) return;
  require_pointers(launcher, a, b, y);
  binary_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, y, n, op);
  TSPIPE_CUDA_LAUNCH_CHECK("binary_kernel");
}

}  // namespace

void fill(float* x, int64_t n, float value, cudaStream_t stream) {
  if (n <= 0) return;
  require_pointers("fill", x);
  fill_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, value);
  TSPIPE_CUDA_LAUNCH_CHECK("fill_kernel");
}
void scale(float* x, int64_t n, float factor, cudaStream_t stream) {
  if (n <= 0) return;
  require_pointers("scale", x);
  scale_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, n, factor);
  TSPIPE_CUDA_LAUNCH_CHECK("scale_kernel");
}
void add(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream) {
  binary("add", a, b, y, n, stream, thrust::plus<float>());
}
void accumulate(float* y, const float* x, int64_t n, cudaStream_t stream) {
  binary("accumulate", y, x, y, n, stream, thrust::plus<float>());
}
void multiply(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream) {
  binary("multiply", a, b, y, n, stream, thrust::multiplies<float>());
}
void activation_forward(Activation f, const float* x, float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  require_pointers("activation_forward", x, y);
  if (f == Activation::relu)
    activation_forward_kernel<Activation::relu><<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
  else
    activation_forward_kernel<Activation::gelu><<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
  TSPIPE_CUDA_LAUNCH_CHECK("activation_forward_kernel");
}
void activation_backward(Activation f, const float* x, const float* dy, float* dx, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  require_pointers("activation_backward", x, dy, dx);
  if (f == Activation::relu)
    activation_backward_kernel<Activation::relu><<<blocks_for(n), kThreads, 0, stream>>>(x, dy, dx, n);
  else
    activation_backward_kernel<Activation::gelu><<<blocks_for(n), kThreads, 0, stream>>>(x, dy, dx, n);
  TSPIPE_CUDA_LAUNCH_CHECK("activation_backward_kernel");
}
void add_bias_rows(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows * cols <= 0) return;
  require_pointers("add_bias_rows", y, bias);
  add_bias_rows_kernel<<<blocks_for(rows * cols), kThreads, 0, stream>>>(y, bias, rows, cols);
  TSPIPE_CUDA_LAUNCH_CHECK("add_bias_rows_kernel");
}
void add_bias_channels(float* y, const float* bias, int64_t n, int64_t channels, int64_t plane, cudaStream_t stream) {
  const int64_t total = n * channels * plane;
  if (total <= 0) return;
  require_pointers("add_bias_channels", y, bias);
  add_bias_channels_kernel<<<blocks_for(total), kThreads, 0, stream>>>(y, bias, total, channels, plane);
  TSPIPE_CUDA_LAUNCH_CHECK("add_bias_channels_kernel");
}
void select_token_forward(const float* x, float* y, int64_t n, int64_t t, int64_t d, int64_t index,
                          cudaStream_t stream) {
  require(index >= 0 && index < t, "select_token_forward", "token index out of range");
  require_pointers("select_token_forward", x, y);
  select_token_forward_kernel<<<blocks_for(n * d), kThreads, 0, stream>>>(x, y, n, t, d, index);
  TSPIPE_CUDA_LAUNCH_CHECK("select_token_forward_kernel");
}
void select_token_backward(const float* dy, float* dx, int64_t n, int64_t t, int64_t d, int64_t index,
                           cudaStream_t stream) {
  require(index >= 0 && index < t, "select_token_backward", "token index out of range");
  require_pointers("select_token_backward", dy, dx);
  select_token_backward_kernel<<<blocks_for(n * t * d), kThreads, 0, stream>>>(dy, dx, n, t, d, index);
  TSPIPE_CUDA_LAUNCH_CHECK("select_token_backward_kernel");
}
void global_avgpool_forward(const float* x, float* y, int64_t planes, int64_t plane, cudaStream_t stream) {
  require(planes > 0 && plane > 0, "global_avgpool_forward", "empty input");
  require_pointers("global_avgpool_forward", x, y);
  const int64_t threads = planes * detail::kWarp;
  global_avgpool_forward_kernel<<<static_cast<unsigned>((threads + kThreads - 1) / kThreads), kThreads, 0, stream>>>(
      x, y, planes, plane);
  TSPIPE_CUDA_LAUNCH_CHECK("global_avgpool_forward_kernel");
}
void global_avgpool_backward(const float* dy, float* dx, int64_t planes, int64_t plane, cudaStream_t stream) {
  require(planes > 0 && plane > 0, "global_avgpool_backward", "empty input");
  require_pointers("global_avgpool_backward", dy, dx);
  global_avgpool_backward_kernel<<<blocks_for(planes * plane), kThreads, 0, stream>>>(dy, dx, planes, plane);
  TSPIPE_CUDA_LAUNCH_CHECK("global_avgpool_backward_kernel");
}
void patch_gather(const float* x, float* patches, int64_t n, int64_t c, int64_t s, int64_t p, cudaStream_t stream) {
  require(p > 0 && s % p == 0, "patch_gather", "image size is not a multiple of the patch");
  require_pointers("patch_gather", x, patches);
  const int64_t total = n * c * s * s;
  patch_gather_kernel<<<blocks_for(total), kThreads, 0, stream>>>(x, patches, total, c, s, p);
  TSPIPE_CUDA_LAUNCH_CHECK("patch_gather_kernel");
}
void patch_scatter(const float* d_patches, float* dx, int64_t n, int64_t c, int64_t s, int64_t p,
                   cudaStream_t stream) {
  require(p > 0 && s % p == 0, "patch_scatter", "image size is not a multiple of the patch");
  require_pointers("patch_scatter", d_patches, dx);
  const int64_t total = n * c * s * s;
  patch_scatter_kernel<<<blocks_for(total), kThreads, 0, stream>>>(d_patches, dx, total, c, s, p);
  TSPIPE_CUDA_LAUNCH_CHECK("patch_scatter_kernel");
}
void patch_assemble(const float* projected, const float* cls, const float* pos, const float* bias, float* y,
                    int64_t n, int64_t t, int64_t d, int64_t first, cudaStream_t stream) {
  require(first == 0 || cls != nullptr, "patch_assemble", "class token missing");
  require_pointers("patch_assemble", projected, pos, bias);
  require_pointers("patch_assemble", y);
  patch_assemble_kernel<<<blocks_for(n * t * d), kThreads, 0, stream>>>(projected, cls, pos, bias, y, n, t, d, first);
  TSPIPE_CUDA_LAUNCH_CHECK("patch_assemble_kernel");
}
void patch_extract_grad(const float* dy, float* d_projected, int64_t n, int64_t t, int64_t d, int64_t first,
                        cudaStream_t stream) {
  require_pointers("patch_extract_grad", dy, d_projected);
  patch_extract_grad_kernel<<<blocks_for(n * (t - first) * d), kThreads, 0, stream>>>(dy, d_projected, n, t, d, first);
  TSPIPE_CUDA_LAUNCH_CHECK("patch_extract_grad_kernel");
}
void tokens_to_heads(const float* x, int64_t ld, float* y, int64_t n, int64_t t, int64_t heads, int64_t hd,
                     cudaStream_t stream) {
  head_layout<true>("tokens_to_heads", x, y, ld, n, t, heads, hd, stream);
}
void heads_to_tokens(const float* y, float* x, int64_t ld, int64_t n, int64_t t, int64_t heads, int64_t hd,
                     cudaStream_t stream) {
  head_layout<false>("heads_to_tokens", y, x, ld, n, t, heads, hd, stream);
}
void batchnorm_backward(const float* x, const float* dy, float* dx, const float* stats, const float* gamma,
                        int64_t n, int64_t channels, int64_t inner, bool batch_statistics, float* dgamma,
                        float* dbeta, cudaStream_t stream) {
  require(n > 0 && channels > 0 && inner > 0, "batchnorm_backward", "empty input");
  require_pointers("batchnorm_backward", x, dy, stats);
  require_pointers("batchnorm_backward", gamma, dgamma, dbeta);
  batchnorm_backward_kernel<<<static_cast<unsigned>(channels), kThreads, 0, stream>>>(
      x, dy, dx, stats, gamma, n, channels, inner, batch_statistics, dgamma, dbeta);
  TSPIPE_CUDA_LAUNCH_CHECK("batchnorm_backward_kernel");
}

}  // namespace tspipe::cuda::launch

namespace tspipe::cuda::launch {
void batchnorm_running_stats(const float* running_mean, const float* running_var, float eps, float* stats,
                             int64_t channels, cudaStream_t stream) {
  require_pointers("batchnorm_running_stats", running_mean, running_var, stats);
  batchnorm_running_stats_kernel<<<blocks_for(channels), kThreads, 0, stream>>>(running_mean, running_var, eps, stats,
                                                                                channels);
  TSPIPE_CUDA_LAUNCH_CHECK("batchnorm_running_stats_kernel");
}
}  // namespace tspipe::cuda::launch
