#pragma once
// Turning CUDA, cuBLAS, cuDNN and NCCL status codes into tspipe::Error. Every failure names the
// call as written, the library's own message and the file:line of the call, e.g.
//   "cudaMalloc(&ptr, bytes) failed: out of memory (cudaErrorMemoryAllocation) at
//    backends/cuda/tspipe/cuda/allocator.cpp:71"
// The library never aborts: these throw, and the API's boundary functions (device_count,
// available, the transport) hand the message back as a Status / Result.
#include <tspipe/error.hpp>

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <string>

namespace tspipe::cuda::detail {

/// "backends/cuda/x.cpp" from an absolute __FILE__, so messages do not depend on the checkout path.
const char* short_file(const char* file) noexcept;

[[noreturn]] void throw_call_failure(const char* call, const std::string& what, const char* file, int line);

inline void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status != cudaSuccess)
    throw_call_failure(call, std::string(cudaGetErrorString(status)) + " (" + cudaGetErrorName(status) + ")", file, line);
}
const char* cublas_status_name(cublasStatus_t status) noexcept;
inline void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_call_failure(call, cublas_status_name(status), file, line);
}
inline void check_cudnn(cudnnStatus_t status, const char* call, const char* file, int line) {
  if (status != CUDNN_STATUS_SUCCESS) throw_call_failure(call, cudnnGetErrorString(status), file, line);
}

}  // namespace tspipe::cuda::detail

#define TSPIPE_CUDA_CHECK(call) ::tspipe::cuda::detail::check_cuda((call), #call, __FILE__, __LINE__)
#define TSPIPE_CUBLAS_CHECK(call) ::tspipe::cuda::detail::check_cublas((call), #call, __FILE__, __LINE__)
#define TSPIPE_CUDNN_CHECK(call) ::tspipe::cuda::detail::check_cudnn((call), #call, __FILE__, __LINE__)
/// After a kernel launch: reports a bad launch configuration under the kernel's name.
#define TSPIPE_CUDA_LAUNCH_CHECK(kernel_name) \
  ::tspipe::cuda::detail::check_cuda(cudaGetLastError(), kernel_name "<<<...>>>", __FILE__, __LINE__)
