#pragma once
// The few tensor operations the runtime itself needs (micro-batch slicing, gathering a batch for
// the loss, moving values to and from the host for checkpoints and profiling). Written for host
// tensors (nn::Tensor); a device backend provides a specialisation of TensorOps for its tensor
// type in its own directory (cuda::Tensor: <tspipe/cuda/pipeline.hpp>).
#include <tspipe/error.hpp>
#include <tspipe/nn/tensor.hpp>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <utility>
#include <vector>

namespace tspipe::runtime {

/// Rows [begin, begin + count) of micro-batch u when n rows are split into m nearly equal slices
/// (the first n % m slices take one row more).
inline std::pair<long, long> micro_batch_rows(long n, int m, int u) {
  const long base = n / m, extra = n % m;
  const long begin = u * base + std::min<long>(u, extra);
  return {begin, base + (u < extra ? 1 : 0)};
}

template <class Tensor>
struct TensorOps;

template <>
struct TensorOps<nn::Tensor> {
  using Tensor = nn::Tensor;
  static long rows(const Tensor& t) { return t.dim() == 0 ? 0 : t.size(0); }
  /// A copy of rows [begin, begin + count).
  static Tensor slice_rows(const Tensor& t, long begin, long count) {
    nn::Shape shape = t.shape();
    shape[0] = count;
    Tensor out(shape);
    const long row = rows(t) == 0 ? 0 : t.numel() / rows(t);
    if (count > 0) std::memcpy(out.data(), t.data() + begin * row, static_cast<std::size_t>(count * row) * sizeof(float));
    return out;
  }
  /// Rows of every part, one after another (parts agree on every axis but the first).
  static Tensor concat_rows(const std::vector<Tensor>& parts) {
    nn::Shape shape = parts.front().shape();
    long total = 0;
    for (const Tensor& p : parts) total += rows(p);
    shape[0] = total;
    Tensor out(shape);
    float* at = out.data();
    for (const Tensor& p : parts) {
      std::memcpy(at, p.data(), static_cast<std::size_t>(p.numel()) * sizeof(float));
      at += p.numel();
    }
    return out;
  }
  /// t ← factor · t.
  static void scale(Tensor& t, float factor) {
    for (float& x : t.span()) x *= factor;
  }
  static Tensor from_rows(const nn::Shape& shape, const float* data) {
    Tensor out(shape);
    std::memcpy(out.data(), data, static_cast<std::size_t>(out.numel()) * sizeof(float));
    return out;
  }
  /// Direct access to the values (host tensors only; MPI transports use it).
  static std::span<float> host(Tensor& t) { return t.span(); }
  static std::span<const float> host(const Tensor& t) { return t.span(); }
  /// The values as a host tensor: here the tensor itself (shared storage, no copy).
  static nn::Tensor to_host(const Tensor& t) { return t; }
  /// t ← values (same element count, checked by the caller).
  static void copy_from_host(Tensor& t, std::span<const float> values) { std::copy(values.begin(), values.end(), t.data()); }
  /// A deterministic normal(0, 1) tensor (the profiling sample).
  static Tensor randn(const nn::Shape& shape, std::uint64_t seed) { return Tensor::randn(shape, seed); }
  static Tensor filled_like(const Tensor& t, float value) { return Tensor::full(t.shape(), value); }
  static std::string shape(const Tensor& t) { return nn::to_string(t.shape()); }
};

}  // namespace tspipe::runtime
