#pragma once
// Row-major single-precision GEMM on OpenBLAS, so layers never include cblas.h:
//   C[m, n] = alpha · op(A)[m, k] · op(B)[k, n] + beta · C
// op(X) = Xᵀ when the matching trans flag is set; lda/ldb/ldc are row strides as stored.
#include <cstdint>

namespace tspipe::cpu {

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace tspipe::cpu
