#pragma once
// The CPU backend: host tensors, OpenBLAS GEMM, im2col convolution.
//
//   using B = tspipe::cpu::Backend;
//   auto blocks = tspipe::nn::models::resnet<B>({.depth = 18, .stem = Stem::small_image});
//
// Device and Stream exist so runtime code is written once for every backend: the CPU has one
// device, and its stream runs work inline (synchronize() has nothing to wait for).
// Threads: each GEMM uses OpenBLAS's thread pool; set_threads(n) is the "threads per stage"
// setting (OpenBLAS's count is process-wide, so stages sharing a process share it).
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/options.hpp>
#include <tspipe/nn/tensor.hpp>

#include <cstdint>
#include <string>

namespace tspipe::cpu {

struct Device {
  int index = 0;
  std::string name() const { return "cpu:" + std::to_string(index); }
};

struct Stream {
  Device device;
  void synchronize() const noexcept {}  // work already ran inline
};

struct Backend {
  using Tensor = nn::Tensor;
  using Device = cpu::Device;
  using Stream = cpu::Stream;
  using Allocator = nn::HostAllocator;
  using LayerPtr = nn::LayerPtr<Backend>;
  static constexpr const char* name = "cpu";

  // ---- tensor helpers used by backend-generic code ----
  static Tensor add(const Tensor& a, const Tensor& b);  // a + b, fresh storage
  static std::string shape_string(const Tensor& t) { return nn::to_string(t.shape()); }
  static void set_threads(int threads);
  static int threads();

  // ---- layer factories (the model builders call these). `label` names the layer in messages.
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

using Tensor = nn::Tensor;
using Layer = nn::Layer<Backend>;
using Context = nn::Context<Backend>;
using Parameter = nn::Parameter<Backend>;
using Buffer = nn::Buffer<Backend>;

namespace detail {
/// "Linear 'fc'" or "Linear" — how messages name a layer.
inline std::string describe(const std::string& kind, const std::string& label) {
  return label.empty() ? kind : kind + " '" + label + "'";
}
/// Throws unless x has `rank` axes (or at least `rank` when at_least) and no zero extent.
void check_input(const std::string& who, const Tensor& x, int64_t rank, bool at_least = false);
/// Throws unless dy has the shape the forward produced.
void check_grad(const std::string& who, const Tensor& dy, const nn::Shape& expected);
/// Throws unless the context holds at least `count` saved tensors.
void check_saved(const std::string& who, const Context& ctx, size_t count);
}  // namespace detail

}  // namespace tspipe::cpu
