#pragma once
// Row-major single-precision GEMMs on cuBLAS (column-major underneath: C = A·B is computed as
// Cᵀ = Bᵀ·Aᵀ, so no transposes are materialised). Same argument order as cpu::gemm:
//   C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C
// TF32 follows set_allow_tf32().
#include <tspipe/cuda/device.hpp>

#include <cstdint>

namespace tspipe::cuda {

void gemm(const Stream& stream, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

/// `batch` independent GEMMs whose operands are `stride_*` floats apart (attention: one per
/// sample and head).
void gemm_strided_batched(const Stream& stream, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                          float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                          int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c, int64_t batch);

/// out[c] += Σ_r x[r·ld + c] for r < rows, c < cols (bias gradients), as a GEMV against ones.
void add_column_sums(const Stream& stream, const float* x, int64_t rows, int64_t cols, int64_t ld, float* out);

}  // namespace tspipe::cuda
