#include <tspipe/cuda/allocator.hpp>
#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/device.hpp>

#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <vector>

namespace tspipe::cuda {

namespace {
constexpr size_t kSmallRound = 512;
constexpr size_t kLargeThreshold = size_t{1} << 20;  // 1 MiB
constexpr size_t kLargeRound = size_t{2} << 20;      // 2 MiB

size_t round_size(size_t bytes) {
  if (bytes == 0) bytes = 1;
  if (bytes < kLargeThreshold) return (bytes + kSmallRound - 1) / kSmallRound * kSmallRound;
  return (bytes + kLargeRound - 1) / kLargeRound * kLargeRound;
}

struct Block {
  void* ptr = nullptr;
  size_t size = 0;
  int device = 0;
  cudaStream_t stream = nullptr;
  std::vector<cudaStream_t> other_streams;  // record_stream()
};

using PoolKey = std::tuple<int, cudaStream_t, size_t>;  // device, stream, size
}  // namespace

struct CachingAllocator::Impl {
  mutable std::mutex mutex;
  std::multimap<PoolKey, Block*> free_blocks;
  std::unordered_map<const void*, Block*> live;  // handed-out blocks by pointer
  struct Pending {
    Block* block;
    std::vector<cudaEvent_t> events;
  };
  std::vector<Pending> pending;  // freed, waiting for other streams' work
  AllocatorStats stats;

  void collect_pending() {
    for (size_t i = 0; i < pending.size();) {
      bool done = true;
      for (cudaEvent_t e : pending[i].events) {
        const cudaError_t q = cudaEventQuery(e);
        if (q == cudaErrorNotReady) {
          done = false;
          break;
        }
        if (q != cudaSuccess) (void)cudaGetLastError();  // treat a broken event as completed
      }
      if (!done) {
        ++i;
        continue;
      }
      for (cudaEvent_t e : pending[i].events) (void)cudaEventDestroy(e);
      Block* b = pending[i].block;
      b->other_streams.clear();
      free_blocks.emplace(PoolKey{b->device, b->stream, b->size}, b);
      pending[i] = pending.back();
      pending.pop_back();
    }
  }

  Block* take_cached(int device, cudaStream_t stream, size_t size) {
    auto it = free_blocks.lower_bound(PoolKey{device, stream, size});
    if (it == free_blocks.end()) return nullptr;
    const auto& [d, s, sz] = it->first;
    // Same device and stream, and at most twice the request (a big block stays for big requests).
    if (d != device || s != stream || sz > 2 * size) return nullptr;
    Block* b = it->second;
    free_blocks.erase(it);
    return b;
  }

  void release_free_locked() {
    for (auto& [key, b] : free_blocks) {
      (void)cudaSetDevice(b->device);
      (void)cudaFree(b->ptr);
      stats.reserved_bytes -= b->size;
      ++stats.device_frees;
      delete b;
    }
    free_blocks.clear();
  }

  void give_back(void* ptr) {
    std::lock_guard lock(mutex);
    auto it = live.find(ptr);
    if (it == live.end()) return;  // cannot happen; never throw from a deleter
    Block* b = it->second;
    live.erase(it);
    stats.in_use_bytes -= b->size;
    if (b->other_streams.empty()) {
      free_blocks.emplace(PoolKey{b->device, b->stream, b->size}, b);
      return;
    }
    Pending p{b, {}};
    for (cudaStream_t s : b->other_streams) {
      cudaEvent_t e = nullptr;
      if (cudaEventCreateWithFlags(&e, cudaEventDisableTiming) != cudaSuccess ||
          cudaEventRecord(e, s) != cudaSuccess) {
        // Cannot track the other stream: wait for it here rather than risk a reuse race.
        (void)cudaGetLastError();
        if (e) (void)cudaEventDestroy(e);
        (void)cudaStreamSynchronize(s);
        continue;
      }
      p.events.push_back(e);
    }
    pending.push_back(std::move(p));
  }
};

CachingAllocator::CachingAllocator() : impl_(std::make_unique<Impl>()) {}
CachingAllocator::~CachingAllocator() = default;

CachingAllocator& CachingAllocator::instance() {
  static CachingAllocator* a = new CachingAllocator;  // intentionally never destroyed
  return *a;
}

std::shared_ptr<void> CachingAllocator::allocate(size_t bytes, int device, cudaStream_t stream) {
  require_device();
  const size_t size = round_size(bytes);
  Impl& m = *impl_;
  std::unique_lock lock(m.mutex);
  ++m.stats.requests;
  if (!m.pending.empty()) m.collect_pending();
  Block* b = m.take_cached(device, stream, size);
  if (b) {
    ++m.stats.cache_hits;
  } else {
    TSPIPE_CUDA_CHECK(cudaSetDevice(device));
    void* ptr = nullptr;
    cudaError_t status = cudaMalloc(&ptr, size);
    if (status == cudaErrorMemoryAllocation) {
      (void)cudaGetLastError();
      (void)cudaDeviceSynchronize();
      m.collect_pending();
      m.release_free_locked();
      status = cudaMalloc(&ptr, size);
    }
    if (status != cudaSuccess) {
      (void)cudaGetLastError();
      detail::throw_call_failure("cudaMalloc(&ptr, size)",
                                 std::string(cudaGetErrorString(status)) + " (" + cudaGetErrorName(status) +
                                     ") for " + std::to_string(size) + " bytes on cuda:" + std::to_string(device) +
                                     " with " + std::to_string(m.stats.reserved_bytes) +
                                     " bytes already reserved by tspipe",
                                 __FILE__, __LINE__);
    }
    ++m.stats.device_allocations;
    m.stats.reserved_bytes += size;
    b = new Block{ptr, size, device, stream, {}};
  }
  m.live.emplace(b->ptr, b);
  m.stats.in_use_bytes += b->size;
  lock.unlock();
  Impl* impl = impl_.get();
  return std::shared_ptr<void>(b->ptr, [impl](void* p) { impl->give_back(p); });
}

void CachingAllocator::record_stream(const void* ptr, cudaStream_t stream) {
  std::lock_guard lock(impl_->mutex);
  auto it = impl_->live.find(ptr);
  if (it == impl_->live.end() || it->second->stream == stream) return;
  for (cudaStream_t s : it->second->other_streams)
    if (s == stream) return;
  it->second->other_streams.push_back(stream);
}

void CachingAllocator::release_cached() {
  std::lock_guard lock(impl_->mutex);
  impl_->collect_pending();
  impl_->release_free_locked();
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

}  // namespace tspipe::cuda
