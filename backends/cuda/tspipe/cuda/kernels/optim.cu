// Optimizer steps, the fused momentum-teacher update, and Thrust reductions. Per element the math
// is kernels/optim.hpp and kernels/ema.hpp, exactly as the CPU optimizers run it.
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/kernels/ema.hpp>
#include <tspipe/kernels/optim.hpp>

#include <thrust/execution_policy.h>
#include <thrust/functional.h>
#include <thrust/iterator/counting_iterator.h>
#include <thrust/transform_reduce.h>

#include "common.cuh"

namespace tspipe::cuda::launch {

using namespace detail;  // common.cuh's launch helpers

namespace {

__global__ void sgd_kernel(float* w, float* vel, const float* g, int64_t n, float lr, float momentum, float wd,
                           bool nesterov) {
  TSPIPE_GRID_STRIDE(i, n) kernels::sgd_update(w[i], vel[i], g[i], lr, momentum, wd, nesterov);
}
__global__ void adamw_kernel(float* w, float* m, float* v, const float* g, int64_t n, float lr, float b1, float b2,
                             float eps, float wd, kernels::AdamBiasCorrection c) {
  TSPIPE_GRID_STRIDE(i, n) kernels::adamw_update(w[i], m[i], v[i], g[i], lr, b1, b2, eps, wd, c);
}
__global__ void lars_kernel(float* w, float* vel, const float* g, int64_t n, float lr, float momentum, float wd,
                            float trust, bool exclude) {
  TSPIPE_GRID_STRIDE(i, n) kernels::lars_update(w[i], vel[i], g[i], lr, momentum, wd, trust, exclude);
}

// Every teacher tensor in one launch: each thread finds its segment by binary search over the
// offsets, then applies kernels::ema_element.
__global__ void ema_fused_kernel(const EmaSegment* segments, int count, int64_t total, float tau) {
  TSPIPE_GRID_STRIDE(i, total) {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (segments[mid].offset <= i) lo = mid;
      else hi = mid - 1;
    }
    const EmaSegment& s = segments[lo];
    const int64_t k = i - s.offset;
    s.teacher[k] = kernels::ema_element(s.teacher[k], s.student[k], tau);
  }
}

struct ToDouble {
  __device__ double operator()(float v) const { return static_cast<double>(v); }
};
struct Square {
  __device__ double operator()(float v) const { return static_cast<double>(v) * static_cast<double>(v); }
};
struct DecayedGradSquare {
  const float* g;
  const float* w;
  float weight_decay;
  __device__ double operator()(int64_t i) const { return kernels::decayed_grad_square(g[i], w[i], weight_decay); }
};

}  // namespace

double sum(const float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return 0.0;
  require_pointers("sum", x);
  return thrust::transform_reduce(thrust::cuda::par.on(stream), x, x + n, ToDouble{}, 0.0, thrust::plus<double>());
}
double squared_norm(const float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return 0.0;
  require_pointers("squared_norm", x);
  return thrust::transform_reduce(thrust::cuda::par.on(stream), x, x + n, Square{}, 0.0, thrust::plus<double>());
}

double decayed_grad_squared_norm(const float* g, const float* w, float weight_decay, int64_t n, cudaStream_t stream) {
  if (n <= 0) return 0.0;
  require_pointers("decayed_grad_squared_norm", g, w);
  return thrust::transform_reduce(thrust::cuda::par.on(stream), thrust::counting_iterator<int64_t>(0),
                                  thrust::counting_iterator<int64_t>(n), DecayedGradSquare{g, w, weight_decay}, 0.0,
                                  thrust::plus<double>());
}

void sgd_step(float* w, float* velocity, const float* g, int64_t n, float lr, float momentum, float weight_decay,
              bool nesterov, cudaStream_t stream) {
  if (n <= 0) return;
  require_pointers("sgd_step", w, velocity, g);
  sgd_kernel<<<blocks_for(n), kThreads, 0, stream>>>(w, velocity, g, n, lr, momentum, weight_decay, nesterov);
  TSPIPE_CUDA_LAUNCH_CHECK("sgd_kernel");
}
void adamw_step(float* w, float* m, float* v, const float* g, int64_t n, float lr, float beta1, float beta2, float eps,
                float weight_decay, float correction1, float correction2, cudaStream_t stream) {
  if (n <= 0) return;
  require_pointers("adamw_step", w, m, v);
  require_pointers("adamw_step", g);
  require(correction1 > 0.0f && correction2 > 0.0f, "adamw_step", "bias corrections must be positive (step ≥ 1)");
  adamw_kernel<<<blocks_for(n), kThreads, 0, stream>>>(w, m, v, g, n, lr, beta1, beta2, eps, weight_decay,
                                                       kernels::AdamBiasCorrection{correction1, correction2});
  TSPIPE_CUDA_LAUNCH_CHECK("adamw_kernel");
}
void lars_step(float* w, float* velocity, const float* g, int64_t n, float lr, float momentum, float weight_decay,
               float trust_ratio, bool exclude, cudaStream_t stream) {
  if (n <= 0) return;
  require_pointers("lars_step", w, velocity, g);
  lars_kernel<<<blocks_for(n), kThreads, 0, stream>>>(w, velocity, g, n, lr, momentum, weight_decay, trust_ratio,
                                                      exclude);
  TSPIPE_CUDA_LAUNCH_CHECK("lars_kernel");
}
void ema_fused(const EmaSegment* segments, int count, int64_t total, float tau, cudaStream_t stream) {
  if (count <= 0 || total <= 0) return;
  require_pointers("ema_fused", segments);
  require(tau >= 0.0f && tau <= 1.0f, "ema_fused", "τ outside [0, 1]");
  ema_fused_kernel<<<blocks_for(total), kThreads, 0, stream>>>(segments, count, total, tau);
  TSPIPE_CUDA_LAUNCH_CHECK("ema_fused_kernel");
}

}  // namespace tspipe::cuda::launch
