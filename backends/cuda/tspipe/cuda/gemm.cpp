#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/gemm.hpp>

#include <climits>
#include <map>
#include <mutex>
#include <vector>

namespace tspipe::cuda {

namespace {
int as_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw Error(std::string("cuda::gemm: ") + what + " = " + std::to_string(v) + " does not fit cuBLAS's int");
  return static_cast<int>(v);
}

// A vector of ones per device for add_column_sums. Grown rarely (to the largest row count seen),
// filled synchronously so every stream may read it; old buffers are kept (other streams may still
// be reading them), so this is the one place that allocates outside the caching allocator.
const float* ones(int device, int64_t count) {
  static std::mutex mutex;
  static std::map<int, std::pair<float*, int64_t>>* table = new std::map<int, std::pair<float*, int64_t>>;
  std::lock_guard lock(mutex);
  auto& [ptr, size] = (*table)[device];
  if (size < count) {
    const int64_t grown = std::max<int64_t>(count, 4096);
    float* p = nullptr;
    TSPIPE_CUDA_CHECK(cudaMalloc(&p, static_cast<size_t>(grown) * sizeof(float)));
    const std::vector<float> host(static_cast<size_t>(grown), 1.0f);
    TSPIPE_CUDA_CHECK(cudaMemcpy(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
    ptr = p;
    size = grown;
  }
  return ptr;
}
}  // namespace

void gemm(const Stream& stream, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
          const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m == 0 || n == 0) return;
  cublasHandle_t h = cublas_handle(stream);
  TSPIPE_CUBLAS_CHECK(cublasSgemm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                  as_int(n, "n"), as_int(m, "m"), as_int(k, "k"), &alpha, b, as_int(ldb, "ldb"), a,
                                  as_int(lda, "lda"), &beta, c, as_int(ldc, "ldc")));
}

void gemm_strided_batched(const Stream& stream, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                          float alpha, const float* a, int64_t lda, int64_t stride_a, const float* b, int64_t ldb,
                          int64_t stride_b, float beta, float* c, int64_t ldc, int64_t stride_c, int64_t batch) {
  if (m == 0 || n == 0 || batch == 0) return;
  cublasHandle_t h = cublas_handle(stream);
  TSPIPE_CUBLAS_CHECK(cublasSgemmStridedBatched(
      h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(n, "n"), as_int(m, "m"),
      as_int(k, "k"), &alpha, b, as_int(ldb, "ldb"), stride_b, a, as_int(lda, "lda"), stride_a, &beta, c,
      as_int(ldc, "ldc"), stride_c, as_int(batch, "batch")));
}

void add_column_sums(const Stream& stream, const float* x, int64_t rows, int64_t cols, int64_t ld, float* out) {
  if (rows == 0 || cols == 0) return;
  const float* one_vec = ones(stream.device.index, rows);
  const float one = 1.0f;
  cublasHandle_t h = cublas_handle(stream);
  TSPIPE_CUBLAS_CHECK(cublasSgemv(h, CUBLAS_OP_N, as_int(cols, "cols"), as_int(rows, "rows"), &one, x,
                                  as_int(ld, "ld"), one_vec, 1, &one, out, 1));
}

}  // namespace tspipe::cuda
