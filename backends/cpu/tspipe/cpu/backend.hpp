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
#include <tspipe/nn/layer_factories.hpp>
#include <tspipe/nn/tensor.hpp>

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

/// The layer factories (linear, conv2d, ...) are nn::LayerFactories', defined beside each layer.
struct Backend : nn::LayerFactories<Backend> {
  using Tensor = nn::Tensor;
  using Device = cpu::Device;
  using Stream = cpu::Stream;
  using Allocator = nn::HostAllocator;
  static constexpr const char* name = "cpu";

  // ---- tensor helpers used by backend-generic code ----
  static Tensor add(const Tensor& a, const Tensor& b);  // a + b, fresh storage
  static std::string shape_string(const Tensor& t) { return nn::to_string(t.shape()); }
  static void set_threads(int threads);
  static int threads();
};

using Tensor = nn::Tensor;
using Layer = nn::Layer<Backend>;
using Context = nn::Context<Backend>;
using Parameter = nn::Parameter<Backend>;
using Buffer = nn::Buffer<Backend>;

}  // namespace tspipe::cpu
