// Row kernels: softmax and LayerNorm (a warp per row), the loss rows (a thread per row, running
// kernels/losses.hpp as the CPU does), and the finite check.
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/kernels/losses.hpp>

#include <thrust/execution_policy.h>
#include <thrust/find.h>
#include <thrust/functional.h>

#include "common.cuh"

namespace tspipe::cuda::launch {

using namespace detail;  // common.cuh's launch helpers

namespace {

constexpr int kRowsPerBlock = kThreads / kWarp;

unsigned warp_row_blocks(int64_t rows) { return static_cast<unsigned>((rows + kRowsPerBlock - 1) / kRowsPerBlock); }

// Same arithmetic as kernels::softmax_row (shift by the scaled max, expf, one reciprocal), with
// the max and the sum reduced across the warp.
__global__ void softmax_forward_kernel(const float* x, float* y, int64_t rows, int64_t n, float scale) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const float* xr = x + row * n;
  float* yr = y + row * n;
  float m = -INFINITY;
  for (int64_t i = lane; i < n; i += kWarp) m = fmaxf(m, xr[i] * scale);
  const float shift = detail::warp_max(m);
  float s = 0.0f;
  for (int64_t i = lane; i < n; i += kWarp) {
    const float e = expf(xr[i] * scale - shift);
    yr[i] = e;
    s += e;
  }
  const float inv = 1.0f / detail::warp_sum(s);
  for (int64_t i = lane; i < n; i += kWarp) yr[i] *= inv;
}

// kernels::softmax_row_backward: dx = y ⊙ (dy − ⟨dy, y⟩).
__global__ void softmax_backward_kernel(const float* y, const float* dy, float* dx, int64_t rows, int64_t n) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const float* yr = y + row * n;
  const float* gr = dy + row * n;
  float* dr = dx + row * n;
  float dot = 0.0f;
  for (int64_t i = lane; i < n; i += kWarp) dot += gr[i] * yr[i];
  dot = detail::warp_sum(dot);
  for (int64_t i = lane; i < n; i += kWarp) dr[i] = yr[i] * (gr[i] - dot);
}

// kernels::layernorm_row_forward with the two sums reduced across a warp.
__global__ void layernorm_forward_kernel(const float* x, const float* gamma, const float* beta, float* y,
                                         float* stats, int64_t rows, int64_t n, float eps) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const float* xr = x + row * n;
  float* yr = y + row * n;
  float s = 0.0f;
  for (int64_t i = lane; i < n; i += kWarp) s += xr[i];
  const float mean = detail::warp_sum(s) / static_cast<float>(n);
  float sq = 0.0f;
  for (int64_t i = lane; i < n; i += kWarp) {
    const float d = xr[i] - mean;
    sq += d * d;
  }
  const float var = detail::warp_sum(sq) / static_cast<float>(n);
  const float rstd = 1.0f / sqrtf(var + eps);
  for (int64_t i = lane; i < n; i += kWarp) yr[i] = (xr[i] - mean) * rstd * gamma[i] + beta[i];
  if (stats && lane == 0) {
    stats[2 * row] = mean;
    stats[2 * row + 1] = rstd;
  }
}

// kernels::layernorm_row_backward's dx, a warp per row.
__global__ void layernorm_backward_dx_kernel(const float* x, const float* gamma, const float* dy,
                                             const float* stats, float* dx, int64_t rows, int64_t n) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / kWarp;
  const int lane = threadIdx.x % kWarp;
  if (row >= rows) return;
  const float mean = stats[2 * row], rstd = stats[2 * row + 1];
  const float* xr = x + row * n;
  const float* gr = dy + row * n;
  float sum_g = 0.0f, sum_gx = 0.0f;
  for (int64_t i = lane; i < n; i += kWarp) {
    const float xhat = (xr[i] - mean) * rstd;
    const float g = gr[i] * gamma[i];
    sum_g += g;
    sum_gx += g * xhat;
  }
  const float mean_g = detail::warp_sum(sum_g) / static_cast<float>(n);
  const float mean_gx = detail::warp_sum(sum_gx) / static_cast<float>(n);
  float* dr = dx + row * n;
  for (int64_t i = lane; i < n; i += kWarp) {
    const float xhat = (xr[i] - mean) * rstd;
    dr[i] = rstd * (gr[i] * gamma[i] - mean_g - xhat * mean_gx);
  }
}

// dgamma = Σ_rows dy·x̂, dbeta = Σ_rows dy: blocks of 32 columns × 8 row lanes, each block one
// chunk of rows, partial sums per chunk (deterministic), summed by the finalize kernel.
constexpr int kColumnLanes = 8;
__global__ void layernorm_param_partial_kernel(const float* x, const float* dy, const float* stats,
                                               float* partial, int64_t rows, int64_t n, int64_t rows_per_chunk) {
  const int64_t col = blockIdx.x * static_cast<int64_t>(kWarp) + threadIdx.x;
  const int64_t chunk = blockIdx.y;
  const int64_t begin = chunk * rows_per_chunk;
  const int64_t end = begin + rows_per_chunk < rows ? begin + rows_per_chunk : rows;
  float sg = 0.0f, sb = 0.0f;
  if (col < n)
    for (int64_t r = begin + threadIdx.y; r < end; r += kColumnLanes) {
      const float g = dy[r * n + col];
      sg += g * ((x[r * n + col] - stats[2 * r]) * stats[2 * r + 1]);
      sb += g;
    }
  __shared__ float sh_g[kColumnLanes][kWarp], sh_b[kColumnLanes][kWarp];
  sh_g[threadIdx.y][threadIdx.x] = sg;
  sh_b[threadIdx.y][threadIdx.x] = sb;
  __syncthreads();
  if (threadIdx.y == 0 && col < n) {
    for (int k = 1; k < kColumnLanes; ++k) {
      sg += sh_g[k][threadIdx.x];
      sb += sh_b[k][threadIdx.x];
    }
    partial[(chunk * 2) * n + col] = sg;
    partial[(chunk * 2 + 1) * n + col] = sb;
  }
}
__global__ void layernorm_param_finalize_kernel(const float* partial, float* dgamma, float* dbeta, int64_t n,
                                                int64_t chunks) {
  TSPIPE_GRID_STRIDE(col, n) {
    float sg = 0.0f, sb = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) {
      sg += partial[(c * 2) * n + col];
      sb += partial[(c * 2 + 1) * n + col];
    }
    dgamma[col] += sg;
    dbeta[col] += sb;
  }
}

int64_t layernorm_chunks(int64_t rows) {
  const int64_t chunks = (rows + 63) / 64;
  return chunks < 1 ? 1 : (chunks > 256 ? 256 : chunks);
}

__global__ void cross_entropy_rows_kernel(const float* x, const int* labels, float* dx, float* row_loss,
                                          int64_t rows, int64_t n, float scale, float grad_weight) {
  TSPIPE_GRID_STRIDE(r, rows) {
    const int label = labels ? labels[r] : static_cast<int>(r);
    row_loss[r] = kernels::cross_entropy_row(x + r * n, dx + r * n, static_cast<int>(n), label, scale, grad_weight);
  }
}
__global__ void kl_softened_rows_kernel(const float* t, const float* s, float* ds, float* ws, float* row_loss,
                                        int64_t rows, int64_t n, float temperature, float grad_weight) {
  TSPIPE_GRID_STRIDE(r, rows)
  row_loss[r] = kernels::kl_softened_row(t + r * n, s + r * n, ds + r * n, ws + r * n, static_cast<int>(n),
                                         temperature, grad_weight);
}
__global__ void cosine_rows_kernel(const float* a, const float* b, float* da, float* au, float* bu, float* row_cos,
                                   int64_t rows, int64_t n, float grad_weight) {
  TSPIPE_GRID_STRIDE(r, rows)
  row_cos[r] = kernels::cosine_similarity_row(a + r * n, b + r * n, da + r * n, au + r * n, bu + r * n,
                                              static_cast<int>(n), grad_weight);
}
__global__ void l2_normalize_rows_kernel(const float* x, float* y, float* norms, int64_t rows, int64_t n) {
  TSPIPE_GRID_STRIDE(r, rows) norms[r] = kernels::l2_normalize_row(x + r * n, y + r * n, static_cast<int>(n));
}
__global__ void l2_normalize_backward_rows_kernel(const float* y, const float* dy, float* dx, const float* norms,
                                                  int64_t rows, int64_t n) {
  TSPIPE_GRID_STRIDE(r, rows)
  kernels::l2_normalize_row_backward(y + r * n, dy + r * n, dx + r * n, static_cast<int>(n), norms[r]);
}
__global__ void squared_error_kernel(const float* s, const float* t, float* ds, float* err, int64_t n,
                                     float grad_weight) {
  TSPIPE_GRID_STRIDE(i, n) err[i] = kernels::squared_error(s[i], t[i], grad_weight, ds[i]);
}

struct NotFinite {
  __device__ bool operator()(float v) const { return !isfinite(v); }
};

}  // namespace

void softmax_forward(const float* x, float* y, int64_t rows, int64_t n, float scale, cudaStream_t stream) {
  if (rows <= 0) return;
  require(n > 0, "softmax_forward", "empty rows");
  require_pointers("softmax_forward", x, y);
  softmax_forward_kernel<<<warp_row_blocks(rows), kThreads, 0, stream>>>(x, y, rows, n, scale);
  TSPIPE_CUDA_LAUNCH_CHECK("softmax_forward_kernel");
}
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t n, cudaStream_t stream) {
  if (rows <= 0) return;
  require(n > 0, "softmax_backward", "empty rows");
  require_pointers("softmax_backward", y, dy, dx);
  softmax_backward_kernel<<<warp_row_blocks(rows), kThreads, 0, stream>>>(y, dy, dx, rows, n);
  TSPIPE_CUDA_LAUNCH_CHECK("softmax_backward_kernel");
}
void layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* stats, int64_t rows,
                       int64_t n, float eps, cudaStream_t stream) {
  if (rows <= 0) return;
  require(n > 0 && eps > 0.0f, "layernorm_forward", "needs features > 0 and eps > 0");
  require_pointers("layernorm_forward", x, gamma, beta);
  require_pointers("layernorm_forward", y);
  layernorm_forward_kernel<<<warp_row_blocks(rows), kThreads, 0, stream>>>(x, gamma, beta, y, stats, rows, n, eps);
  TSPIPE_CUDA_LAUNCH_CHECK("layernorm_forward_kernel");
}
int64_t layernorm_backward_workspace(int64_t rows, int64_t n) { return layernorm_chunks(rows) * 2 * n; }
void layernorm_backward(const float* x, const float* gamma, const float* dy, const float* stats, float* dx,
                        float* dgamma, float* dbeta, float* workspace, int64_t rows, int64_t n,
                        cudaStream_t stream) {
  if (rows <= 0) return;
  require(n > 0, "layernorm_backward", "empty rows");
  require_pointers("layernorm_backward", x, gamma, dy);
  require_pointers("layernorm_backward", stats, dx, workspace);
  require_pointers("layernorm_backward", dgamma, dbeta);
  layernorm_backward_dx_kernel<<<warp_row_blocks(rows), kThreads, 0, stream>>>(x, gamma, dy, stats, dx, rows, n);
  TSPIPE_CUDA_LAUNCH_CHECK("layernorm_backward_dx_kernel");
  const int64_t chunks = layernorm_chunks(rows);
  const int64_t per_chunk = (rows + chunks - 1) / chunks;
  const dim3 grid(static_cast<unsigned>((n + kWarp - 1) / kWarp), static_cast<unsigned>(chunks));
  layernorm_param_partial_kernel<<<grid, dim3(kWarp, kColumnLanes), 0, stream>>>(x, dy, stats, workspace, rows, n,
                                                                                  per_chunk);
  TSPIPE_CUDA_LAUNCH_CHECK("layernorm_param_partial_kernel");
  layernorm_param_finalize_kernel<<<blocks_for(n), kThreads, 0, stream>>>(workspace, dgamma, dbeta, n, chunks);
  TSPIPE_CUDA_LAUNCH_CHECK("layernorm_param_finalize_kernel");
}

void cross_entropy_rows(const float* x, const int* labels, float* dx, float* row_loss, int64_t rows, int64_t n,
                        float scale, float grad_weight, cudaStream_t stream) {
  require(rows > 0 && n > 0, "cross_entropy_rows", "empty logits");
  require_pointers("cross_entropy_rows", x, labels, dx);
  require_pointers("cross_entropy_rows", row_loss);
  cross_entropy_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(x, labels, dx, row_loss, rows, n, scale,
                                                                        grad_weight);
  TSPIPE_CUDA_LAUNCH_CHECK("cross_entropy_rows_kernel");
}
void cross_entropy_diagonal_rows(const float* x, float* dx, float* row_loss, int64_t rows, int64_t n, float scale,
                                 float grad_weight, cudaStream_t stream) {
  require(rows > 0 && rows <= n, "cross_entropy_diagonal_rows", "needs rows ≤ columns");
  require_pointers("cross_entropy_diagonal_rows", x, dx, row_loss);
  cross_entropy_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(x, nullptr, dx, row_loss, rows, n, scale,
                                                                        grad_weight);
  TSPIPE_CUDA_LAUNCH_CHECK("cross_entropy_rows_kernel");
}
void kl_softened_rows(const float* teacher, const float* student, float* ds, float* workspace, float* row_loss,
                      int64_t rows, int64_t n, float temperature, float grad_weight, cudaStream_t stream) {
  require(rows > 0 && n > 0 && temperature > 0.0f, "kl_softened_rows", "empty input or temperature ≤ 0");
  require_pointers("kl_softened_rows", teacher, student, ds);
  require_pointers("kl_softened_rows", workspace, row_loss);
  kl_softened_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(teacher, student, ds, workspace, row_loss, rows,
                                                                      n, temperature, grad_weight);
  TSPIPE_CUDA_LAUNCH_CHECK("kl_softened_rows_kernel");
}
void cosine_similarity_rows(const float* a, const float* b, float* da, float* a_unit, float* b_unit, float* row_cos,
                            int64_t rows, int64_t n, float grad_weight, cudaStream_t stream) {
  require(rows > 0 && n > 0, "cosine_similarity_rows", "empty input");
  require_pointers("cosine_similarity_rows", a, b, da);
  require_pointers("cosine_similarity_rows", a_unit, b_unit, row_cos);
  cosine_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(a, b, da, a_unit, b_unit, row_cos, rows, n,
                                                                 grad_weight);
  TSPIPE_CUDA_LAUNCH_CHECK("cosine_rows_kernel");
}
void l2_normalize_rows(const float* x, float* y, float* norms, int64_t rows, int64_t n, cudaStream_t stream) {
  require(rows > 0 && n > 0, "l2_normalize_rows", "empty input");
  require_pointers("l2_normalize_rows", x, y, norms);
  l2_normalize_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(x, y, norms, rows, n);
  TSPIPE_CUDA_LAUNCH_CHECK("l2_normalize_rows_kernel");
}
void l2_normalize_backward_rows(const float* y, const float* dy, float* dx, const float* norms, int64_t rows,
                                int64_t n, cudaStream_t stream) {
  require(rows > 0 && n > 0, "l2_normalize_backward_rows", "empty input");
  require_pointers("l2_normalize_backward_rows", y, dy, dx);
  require_pointers("l2_normalize_backward_rows", norms);
  l2_normalize_backward_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream>>>(y, dy, dx, norms, rows, n);
  TSPIPE_CUDA_LAUNCH_CHECK("l2_normalize_backward_rows_kernel");
}
void squared_error(const float* s, const float* t, float* ds, float* err, int64_t n, float grad_weight,
                   cudaStream_t stream) {
  require(n > 0, "squared_error", "empty input");
  require_pointers("squared_error", s, t, ds);
  require_pointers("squared_error", err);
  squared_error_kernel<<<blocks_for(n), kThreads, 0, stream>>>(s, t, ds, err, n, grad_weight);
  TSPIPE_CUDA_LAUNCH_CHECK("squared_error_kernel");
}
int64_t first_non_finite(const float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return -1;
  require_pointers("first_non_finite", x);
  const float* hit = thrust::find_if(thrust::cuda::par.on(stream), x, x + n, NotFinite{});
  TSPIPE_CUDA_CHECK(cudaStreamSynchronize(stream));
  return hit == x + n ? -1 : static_cast<int64_t>(hit - x);
}

}  // namespace tspipe::cuda::launch
