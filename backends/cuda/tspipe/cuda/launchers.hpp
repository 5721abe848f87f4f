#pragma once
// Thin launchers for the backend's own kernels. Each takes raw device pointers and an explicit
// stream, checks its preconditions (throwing tspipe::Error that names the launcher), launches, and
// reports a failed launch with the kernel's name. The element/row math comes from
// include/tspipe/kernels/, shared with the CPU backend; the kernels only add the parallel
// decomposition (a thread per element, a warp per row, a block per channel).
//
// This header includes only cuda_runtime.h and the shared kernel math, so the host-side layer code
// compiles with g++.
#include <tspipe/kernels/activations.hpp>

#include <cuda_runtime.h>

#include <cstdint>

namespace tspipe::cuda::launch {

// ---- elementwise (kernels/elementwise.cu) ----
void fill(float* x, int64_t n, float value, cudaStream_t stream);
/// y = a + b
void add(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream);
/// y += x
void accumulate(float* y, const float* x, int64_t n, cudaStream_t stream);
/// y = a ⊙ b
void multiply(const float* a, const float* b, float* y, int64_t n, cudaStream_t stream);
/// x ← factor · x
void scale(float* x, int64_t n, float factor, cudaStream_t stream);

using kernels::Activation;
void activation_forward(Activation f, const float* x, float* y, int64_t n, cudaStream_t stream);
void activation_backward(Activation f, const float* x, const float* dy, float* dx, int64_t n, cudaStream_t stream);

/// y[r, c] += bias[c] over a [rows, cols] matrix.
void add_bias_rows(float* y, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream);
/// y[n, c, p] += bias[c] over [n, channels, plane].
void add_bias_channels(float* y, const float* bias, int64_t n, int64_t channels, int64_t plane, cudaStream_t stream);

/// y[i, :] = x[i, index, :] for x [n, t, d]; backward writes dx (all other tokens zero).
void select_token_forward(const float* x, float* y, int64_t n, int64_t t, int64_t d, int64_t index, cudaStream_t stream);
void select_token_backward(const float* dy, float* dx, int64_t n, int64_t t, int64_t d, int64_t index, cudaStream_t stream);

/// Mean of each plane: x [planes, plane] → y [planes]; backward spreads dy/plane.
void global_avgpool_forward(const float* x, float* y, int64_t planes, int64_t plane, cudaStream_t stream);
void global_avgpool_backward(const float* dy, float* dx, int64_t planes, int64_t plane, cudaStream_t stream);

/// ViT patches: x [n, c, s, s] → patches [n·(s/p)², c·p·p] (and the inverse for the gradient).
void patch_gather(const float* x, float* patches, int64_t n, int64_t c, int64_t s, int64_t p, cudaStream_t stream);
void patch_scatter(const float* d_patches, float* dx, int64_t n, int64_t c, int64_t s, int64_t p, cudaStream_t stream);
/// y [n, t, d]: token 0 = cls (when first == 1), others = projected [n·(t−first), d] + bias; + pos.
void patch_assemble(const float* projected, const float* cls, const float* pos, const float* bias, float* y,
                    int64_t n, int64_t t, int64_t d, int64_t first, cudaStream_t stream);
/// d_projected [n·(t−first), d] = dy[:, first:, :].
void patch_extract_grad(const float* dy, float* d_projected, int64_t n, int64_t t, int64_t d, int64_t first,
                        cudaStream_t stream);

/// Attention layouts: tokens x[(i·t + τ)·ld + h·hd + e] ↔ heads y[((i·H + h)·t + τ)·hd + e].
void tokens_to_heads(const float* x, int64_t ld, float* y, int64_t n, int64_t t, int64_t heads, int64_t hd,
                     cudaStream_t stream);
void heads_to_tokens(const float* y, float* x, int64_t ld, int64_t n, int64_t t, int64_t heads, int64_t hd,
                     cudaStream_t stream);

/// BatchNorm backward with fixed (running) statistics, or batch statistics — a block per channel
/// running kernels::batchnorm math: dx (may be null), dgamma += Σ dy·x̂, dbeta += Σ dy.
/// `stats` is [2, channels] = (mean, rstd).
void batchnorm_backward(const float* x, const float* dy, float* dx, const float* stats, const float* gamma,
                        int64_t n, int64_t channels, int64_t inner, bool batch_statistics, float* dgamma,
                        float* dbeta, cudaStream_t stream);

/// stats [2, channels] = (running_mean, 1/sqrt(running_var + eps)) for an eval-mode backward.
void batchnorm_running_stats(const float* running_mean, const float* running_var, float eps, float* stats,
                             int64_t channels, cudaStream_t stream);

// ---- rows (kernels/rows.cu) ----
/// y = softmax(scale·x) over rows of n (a warp per row); x and y may alias.
void softmax_forward(const float* x, float* y, int64_t rows, int64_t n, float scale, cudaStream_t stream);
void softmax_backward(const float* y, const float* dy, float* dx, int64_t rows, int64_t n, cudaStream_t stream);

/// LayerNorm over rows of n; stats [rows, 2] = (mean, rstd) may be null (inference).
void layernorm_forward(const float* x, const float* gamma, const float* beta, float* y, float* stats,
                       int64_t rows, int64_t n, float eps, cudaStream_t stream);
/// Floats of workspace layernorm_backward needs.
int64_t layernorm_backward_workspace(int64_t rows, int64_t n);
void layernorm_backward(const float* x, const float* gamma, const float* dy, const float* stats, float* dx,
                        float* dgamma, float* dbeta, float* workspace, int64_t rows, int64_t n,
                        cudaStream_t stream);

// ---- losses, a thread per row (kernels/rows.cu). Each writes a per-row loss term. ----
void cross_entropy_rows(const float* x, const int* labels, float* dx, float* row_loss, int64_t rows, int64_t n,
                        float scale, float grad_weight, cudaStream_t stream);
/// labels[i] = i (InfoNCE's positives on the diagonal), without a label array.
void cross_entropy_diagonal_rows(const float* x, float* dx, float* row_loss, int64_t rows, int64_t n, float scale,
                                 float grad_weight, cudaStream_t stream);
void kl_softened_rows(const float* teacher, const float* student, float* ds, float* workspace, float* row_loss,
                      int64_t rows, int64_t n, float temperature, float grad_weight, cudaStream_t stream);
void cosine_similarity_rows(const float* a, const float* b, float* da, float* a_unit, float* b_unit,
                            float* row_cos, int64_t rows, int64_t n, float grad_weight, cudaStream_t stream);
void l2_normalize_rows(const float* x, float* y, float* norms, int64_t rows, int64_t n, cudaStream_t stream);
void l2_normalize_backward_rows(const float* y, const float* dy, float* dx, const float* norms, int64_t rows,
                                int64_t n, cudaStream_t stream);
void squared_error(const float* s, const float* t, float* ds, float* err, int64_t n, float grad_weight,
                   cudaStream_t stream);
/// Finds a NaN/Inf: returns the first bad index or −1 (synchronises the stream).
int64_t first_non_finite(const float* x, int64_t n, cudaStream_t stream);

// ---- reductions (Thrust) and optimizers (kernels/optim.cu) ----
/// Σ x and Σ x², accumulated in double (synchronise the stream).
double sum(const float* x, int64_t n, cudaStream_t stream);
double squared_norm(const float* x, int64_t n, cudaStream_t stream);
/// ‖g + wd·w‖² (LARS's update norm, squared), accumulated in double (synchronises the stream).
double decayed_grad_squared_norm(const float* g, const float* w, float weight_decay, int64_t n, cudaStream_t stream);

void sgd_step(float* w, float* velocity, const float* g, int64_t n, float lr, float momentum, float weight_decay,
              bool nesterov, cudaStream_t stream);
void adamw_step(float* w, float* m, float* v, const float* g, int64_t n, float lr, float beta1, float beta2,
                float eps, float weight_decay, float correction1, float correction2, cudaStream_t stream);
void lars_step(float* w, float* velocity, const float* g, int64_t n, float lr, float momentum, float weight_decay,
               float trust_ratio, bool exclude, cudaStream_t stream);

/// One teacher tensor of the fused EMA; `offset` is its start in the concatenation of all.
struct EmaSegment {
  float* teacher;
  const float* student;
  int64_t offset;
  int64_t count;
};
/// ξ ← τ·ξ + (1−τ)·θ over every segment in one launch. `segments` is a device array sorted by
/// offset; `total` = Σ count.
void ema_fused(const EmaSegment* segments, int count, int64_t total, float tau, cudaStream_t stream);

}  // namespace tspipe::cuda::launch
