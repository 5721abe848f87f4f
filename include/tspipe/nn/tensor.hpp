#pragma once
// The host (CPU-memory) float32 tensor: the CPU backend's tensor and the staging type of others.
//
// * Layout: contiguous, row-major; images are NCHW, token sequences are [N, T, D].
// * Storage is shared like PyTorch's: copying a Tensor aliases the same floats (cheap to save
//   in a backward context or pass between pipeline stages); `clone()` makes a deep copy.
// * Memory comes from a HostAllocator (64-byte aligned so GEMM and vector loops run at speed).
#include <tspipe/error.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <numeric>
#include <span>
#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

namespace tspipe::nn {

using Shape = std::vector<int64_t>;

/// "[2, 3, 32, 32]" — for error messages.
inline std::string to_string(const Shape& shape) {
  std::ostringstream os;
  os << '[';
  for (size_t i = 0; i < shape.size(); ++i) os << (i ? ", " : "") << shape[i];
  os << ']';
  return os.str();
}

/// `to` with its -1 extent (at most one) filled in so that it holds the `numel` values of a tensor
/// shaped `from`: the new shape of a reshape. Throws naming `who` when there is no such shape.
inline Shape reshaped(const std::string& who, const Shape& from, int64_t numel, Shape to) {
  int64_t known = 1, infer_at = -1;
  for (size_t i = 0; i < to.size(); ++i) {
    if (to[i] == -1) {
      if (infer_at >= 0) throw Error(who + ": more than one -1 in " + to_string(to));
      infer_at = static_cast<int64_t>(i);
    } else {
      if (to[i] < 0) throw Error(who + ": negative extent in " + to_string(to));
      known *= to[i];
    }
  }
  if (infer_at >= 0) {
    if (known == 0 || numel % known != 0)
      throw Error(who + ": cannot reshape " + to_string(from) + " into " + to_string(to));
    to[static_cast<size_t>(infer_at)] = numel / known;
    known = numel;
  }
  if (known != numel)
    throw Error(who + ": cannot reshape " + to_string(from) + " (" + std::to_string(numel) + " elements) into " +
                to_string(to));
  return to;
}

/// Product of the extents; throws when an extent is negative.
inline int64_t shape_numel(const Shape& shape) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw Error("Tensor: negative extent in shape " + to_string(shape));
    n *= d;
  }
  return n;
}

/// Where tensors get their memory. The default allocates 64-byte aligned blocks with operator
/// new; a backend (or a test counting allocations) may install another through set_allocator.
class HostAllocator {
 public:
  virtual ~HostAllocator() = default;
  virtual std::shared_ptr<float[]> allocate(size_t count) = 0;
};

class AlignedHostAllocator final : public HostAllocator {
 public:
  std::shared_ptr<float[]> allocate(size_t count) override {
    constexpr std::align_val_t alignment{64};
    float* p = static_cast<float*>(::operator new(std::max<size_t>(count, 1) * sizeof(float), alignment));
    return std::shared_ptr<float[]>(p, [](float* q) { ::operator delete(q, alignment); });
  }
};

inline HostAllocator*& current_allocator_slot() {
  static AlignedHostAllocator fallback;
  static HostAllocator* current = &fallback;
  return current;
}
inline HostAllocator& host_allocator() { return *current_allocator_slot(); }
/// Installs `allocator` (which must outlive every tensor it allocates); nullptr restores the default.
inline void set_host_allocator(HostAllocator* allocator) {
  static AlignedHostAllocator fallback;
  current_allocator_slot() = allocator ? allocator : &fallback;
}

/// Deterministic pseudo-random numbers (splitmix64): same seed ⇒ same bits on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}
  uint64_t next_u64() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  /// Uniform in [0, 1) with 24 random bits (exactly representable in float).
  float uniform() { return static_cast<float>(next_u64() >> 40) * (1.0f / 16777216.0f); }
  float uniform(float lo, float hi) { return lo + (hi - lo) * uniform(); }
  /// Standard normal (Box–Muller, computed in double so results do not depend on libm's float paths).
  float normal() {
    const double u1 = (static_cast<double>(next_u64() >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    const double u2 = static_cast<double>(next_u64() >> 11) * (1.0 / 9007199254740992.0);
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
  }

 private:
  uint64_t state_;
};

class Tensor {
 public:
  Tensor() = default;
  /// Uninitialised storage of the given shape.
  explicit Tensor(Shape shape) : shape_(std::move(shape)), numel_(shape_numel(shape_)) {
    storage_ = host_allocator().allocate(static_cast<size_t>(numel_));
  }

  static Tensor empty(Shape shape) { return Tensor(std::move(shape)); }
  static Tensor zeros(Shape shape) { return full(std::move(shape), 0.0f); }
  static Tensor full(Shape shape, float value) {
    Tensor t(std::move(shape));
    t.fill(value);
    return t;
  }
  static Tensor from(Shape shape, const std::vector<float>& values) {
    Tensor t(std::move(shape));
    if (static_cast<int64_t>(values.size()) != t.numel())
      throw Error("Tensor::from: " + std::to_string(values.size()) + " values for shape " +
                  to_string(t.shape()));
    std::copy(values.begin(), values.end(), t.data());
    return t;
  }
  /// Standard-normal entries times `stddev`, deterministic in `seed`.
  static Tensor randn(Shape shape, uint64_t seed, float stddev = 1.0f) {
    Tensor t(std::move(shape));
    Rng rng(seed);
    for (float& v : t.span()) v = stddev * rng.normal();
    return t;
  }
  /// Uniform entries in [lo, hi), deterministic in `seed`.
  static Tensor uniform(Shape shape, uint64_t seed, float lo, float hi) {
    Tensor t(std::move(shape));
    Rng rng(seed);
    for (float& v : t.span()) v = rng.uniform(lo, hi);
    return t;
  }

  const Shape& shape() const noexcept { return shape_; }
  int64_t dim() const noexcept { return static_cast<int64_t>(shape_.size()); }
  /// Extent of axis `i`; negative counts from the end.
  int64_t size(int64_t i) const {
    const int64_t k = i < 0 ? i + dim() : i;
    if (k < 0 || k >= dim())
      throw Error("Tensor::size: axis " + std::to_string(i) + " out of range for shape " +
                  to_string(shape_));
    return shape_[static_cast<size_t>(k)];
  }
  int64_t numel() const noexcept { return numel_; }
  bool defined() const noexcept { return storage_ != nullptr; }

  float* data() noexcept { return storage_.get(); }
  const float* data() const noexcept { return storage_.get(); }
  std::span<float> span() noexcept { return {data(), static_cast<size_t>(numel_)}; }
  std::span<const float> span() const noexcept { return {data(), static_cast<size_t>(numel_)}; }
  float& operator[](int64_t i) noexcept { return data()[i]; }
  float operator[](int64_t i) const noexcept { return data()[i]; }

  /// Same storage, new shape (one extent may be -1 = inferred).
  Tensor reshape(Shape shape) const {
    Tensor t = *this;
    t.shape_ = reshaped("Tensor::reshape", shape_, numel_, std::move(shape));
    return t;
  }
  /// A deep copy.
  Tensor clone() const {
    Tensor t(shape_);
    if (numel_) std::memcpy(t.data(), data(), static_cast<size_t>(numel_) * sizeof(float));
    return t;
  }
  void fill(float value) { std::fill(data(), data() + numel_, value); }
  void zero() { fill(0.0f); }
  /// True when both tensors use the same floats (copies of one another).
  bool shares_storage_with(const Tensor& other) const noexcept { return storage_ == other.storage_; }

 private:
  Shape shape_;
  int64_t numel_ = 0;
  std::shared_ptr<float[]> storage_;
};

}  // namespace tspipe::nn
