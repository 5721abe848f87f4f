#pragma once
// Launch helpers shared by the kernel files.
#include <tspipe/cuda/check.hpp>
#include <tspipe/error.hpp>

#include <algorithm>
#include <cstdint>
#include <string>

namespace tspipe::cuda::launch::detail {

constexpr int kThreads = 256;
constexpr int kWarp = 32;

/// Blocks for a grid-stride loop over n items (capped: the loop covers the rest).
inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  const int64_t b = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<int64_t>(b, 1, 65535LL * 16));
}

inline void require(bool ok, const char* launcher, const std::string& what) {
  if (!ok) throw Error(std::string("cuda::launch::") + launcher + ": " + what);
}
inline void require_pointers(const char* launcher, const void* a, const void* b = reinterpret_cast<const void*>(1),
                             const void* c = reinterpret_cast<const void*>(1)) {
  require(a && b && c, launcher, "null device pointer");
}

__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}
__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

#define TSPIPE_GRID_STRIDE(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(gridDim.x) * blockDim.x)

}  // namespace tspipe::cuda::launch::detail
