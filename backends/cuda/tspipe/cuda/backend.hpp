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
#include <tspipe/nn/options.hpp>

#include <cstdint>
#include <string>

namespace tspipe::cuda {

struct Backend {
  using Tensor = cuda::Tensor;
  using Device = cuda::Device;
  using Stream = cuda::Stream;
  using Allocator = CachingAllocator;
  using LayerPtr = nn::LayerPtr<Backend>;
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

  // ---- layer factories (same signatures as cpu::Backend) ----
  static LayerPtr linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed,
                         std::string label = "");
  static LayerPtr conv2d(const nn::Conv2dOptions& options, uint64_t seed, std::string label = "");
  static LayerPtr batch_norm2d(int64_t channels, std::string label = "", float eps = 1e-5f,
                               float momentum = 0.1f);
  static LayerPtr batch_norm1d(int64_t channels, std::string label = "", float eps = 1e-5f,
                               float momentum = 0.1f);
  static LayerPtr layer_norm(int64_t features, std::string label = "", float eps = 1e-6f);
  static LayerPtr relu();
  static LayerPtr gelu();
  static LayerPtr max_pool2d(const nn::Pool2dOptions& options, std::string label = "");
  static LayerPtr avg_pool2d(const nn::Pool2dOptions& options, std::string label = "");
  static LayerPtr global_avg_pool(std::string label = "");
  static LayerPtr flatten();
  static LayerPtr dropout(float p, uint64_t seed, std::string label = "");
  static LayerPtr softmax();
  static LayerPtr self_attention(int64_t dim, int64_t heads, uint64_t seed, std::string label = "");
  static LayerPtr patch_embed(const nn::PatchEmbedOptions& options, uint64_t seed,
                              std::string label = "");
  static LayerPtr select_token(int64_t index = 0);
};

using Layer = nn::Layer<Backend>;
using Context = nn::Context<Backend>;
using Parameter = nn::Parameter<Backend>;
using Buffer = nn::Buffer<Backend>;

namespace detail {
inline std::string describe(const std::string& kind, const std::string& label) {
  return label.empty() ? kind : kind + " '" + label + "'";
}
void check_input(const std::string& who, const Tensor& x, int64_t rank, bool at_least = false);
void check_grad(const std::string& who, const Tensor& dy, const nn::Shape& expected);
void check_saved(const std::string& who, const Context& ctx, size_t count);
/// The current stream's raw handle (what launchers take).
inline cudaStream_t stream() { return current_stream().handle; }
}  // namespace detail

}  // namespace tspipe::cuda
