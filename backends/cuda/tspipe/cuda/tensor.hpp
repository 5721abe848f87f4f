#pragma once
// The CUDA backend's tensor: float32, contiguous, row-major (NCHW / [N, T, D]) in device memory.
//
// Like nn::Tensor, copies share storage (cheap to save in a context or hand to the next stage),
// clone() is a deep copy. Memory comes from the CachingAllocator on the current stream of the
// calling thread; every operation queues work on that stream, so nothing here synchronises
// except the host transfers that say so.
#include <tspipe/cuda/device.hpp>
#include <tspipe/nn/tensor.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tspipe::cuda {

using nn::Shape;

class Tensor {
 public:
  Tensor() = default;
  /// Uninitialised storage of the given shape on the current device.
  explicit Tensor(Shape shape);

  static Tensor empty(Shape shape) { return Tensor(std::move(shape)); }
  static Tensor zeros(Shape shape);
  static Tensor full(Shape shape, float value);
  /// Uploads a host tensor (waits until the copy is done, so `host` may be freed afterwards).
  static Tensor from_host(const nn::Tensor& host);
  static Tensor from(Shape shape, const std::vector<float>& values) { return from_host(nn::Tensor::from(std::move(shape), values)); }
  /// Downloads to the host (synchronises the current stream).
  nn::Tensor to_host() const;
  std::vector<float> to_vector() const;

  const Shape& shape() const noexcept { return shape_; }
  int64_t dim() const noexcept { return static_cast<int64_t>(shape_.size()); }
  int64_t size(int64_t i) const;
  int64_t numel() const noexcept { return numel_; }
  bool defined() const noexcept { return storage_ != nullptr; }
  int device() const noexcept { return device_; }

  float* data() noexcept { return static_cast<float*>(storage_.get()); }
  const float* data() const noexcept { return static_cast<const float*>(storage_.get()); }

  /// Same storage, new shape (one extent may be -1).
  Tensor reshape(Shape shape) const;
  Tensor clone() const;
  void fill(float value);
  void zero();
  /// this ← src (same element count), on the current stream.
  void copy_from(const Tensor& src);
  bool shares_storage_with(const Tensor& other) const noexcept { return storage_ == other.storage_; }
  /// The storage is also used by work on `stream`: it is not reused until that work is done.
  void record_stream(cudaStream_t stream) const;

 private:
  Shape shape_;
  int64_t numel_ = 0;
  int device_ = 0;
  std::shared_ptr<void> storage_;
};

inline std::string to_string(const Shape& s) { return nn::to_string(s); }

}  // namespace tspipe::cuda
