#pragma once
// The caching device allocator: cudaMalloc only when the cache has no fitting block, so a
// training loop whose shapes repeat stops calling cudaMalloc after its first step.
//
// * Blocks are cached per (device, stream): a block freed on stream S is handed out again only to
//   work on S, whose ordering makes reuse safe without synchronising.
// * A block also used on another stream (a transport's copy, another stage's stream) is marked
//   with record_stream(); when freed, it waits for an event on each such stream before it is
//   reused.
// * Sizes are rounded (512 B for small requests, 2 MiB for large ones) and a request takes the
//   smallest cached block that fits without wasting more than the request itself.
// * On cudaMalloc failure the cache is released to the driver and the call retried once; a
//   second failure throws tspipe::Error naming cudaMalloc, the size and the cached bytes.
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <memory>

namespace tspipe::cuda {

struct AllocatorStats {
  uint64_t device_allocations = 0;  ///< cudaMalloc calls made so far
  uint64_t device_frees = 0;        ///< cudaFree calls (cache releases)
  uint64_t requests = 0;            ///< allocate() calls
  uint64_t cache_hits = 0;          ///< requests served from the cache
  size_t reserved_bytes = 0;        ///< held from the driver (in use + cached)
  size_t in_use_bytes = 0;          ///< handed out and not yet freed
};

class CachingAllocator {
 public:
  /// The process-wide allocator (never destroyed, so tensors in static storage can outlive main).
  static CachingAllocator& instance();

  /// `bytes` of device memory on `device`, for work ordered on `stream`. The returned pointer's
  /// deleter gives the block back to the cache.
  std::shared_ptr<void> allocate(size_t bytes, int device, cudaStream_t stream);
  /// The block holding `ptr` is (also) used by work on `stream`; its reuse waits for that work.
  void record_stream(const void* ptr, cudaStream_t stream);
  /// Returns every cached, unused block to the driver.
  void release_cached();
  AllocatorStats stats() const;

  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;

 private:
  CachingAllocator();
  ~CachingAllocator();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tspipe::cuda
