#pragma once
// The CUDA backend: device tensors, cuDNN convolution / batch norm / pooling, cuBLAS GEMMs, own
// kernels for the rest. Mirrors cpu::Backend (same factories, same initial weights for the same
// seeds, same parameter names), so a model built with either backend is the same model:
//
//   using B = tspipe::cuda::Backend;
//   if (auto ok = tspipe::cuda::available(); !ok) { std::puts(ok.message().c_str()); return; }
//   auto blocks = tspipe::nn::models::resnet<B>({.depth = 50});
//
// Work runs on the calling thread's current stream (StreamGuard), so pipeline stages on separate
// threads and streams can share one GPU. Without a usable device, the first call that needs one
// throws tspipe::Error("no CUDA device: ..."); available() reports the same as a value.
#include <tspipe/cuda/allocator.hpp>
#include <tspipe/cuda/device.hpp>
#include <tspipe/cuda/tensor.hpp>
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/layer_factories.hpp>

#include <string>

namespace tspipe::cuda {

/// The layer factories (linear, conv2d, ...) are nn::LayerFactories', defined beside each layer.
struct Backend : nn::LayerFactories<Backend> {
  using Tensor = cuda::Tensor;
  using Device = cuda::Device;
  using Stream = cuda::Stream;
  using Allocator = CachingAllocator;
  static constexpr const char* name = "cuda";

  // ---- tensor helpers used by backend-generic code ----
  static Tensor add(const Tensor& a, const Tensor& b);  // a + b, fresh storage
  static std::string shape_string(const Tensor& t) { return nn::to_string(t.shape()); }
  static Tensor to_device(const nn::Tensor& host) { return Tensor::from_host(host); }
  static nn::Tensor to_host(const Tensor& t) { return t.to_host(); }
  /// CPU-backend symmetry: host threads do not matter here (kept so generic code compiles).
  static void set_threads(int threads);
  static int threads() { return 1; }
  static Status available() noexcept { return cuda::available(); }
};

using Layer = nn::Layer<Backend>;
using Context = nn::Context<Backend>;
using Parameter = nn::Parameter<Backend>;
using Buffer = nn::Buffer<Backend>;

namespace detail {
/// The current stream's raw handle (what launchers take).
inline cudaStream_t stream() { return current_stream().handle; }
}  // namespace detail

}  // namespace tspipe::cuda
