#pragma once
// Comparing CUDA results with the CPU backend's.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/cuda/backend.hpp>

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace tspipe::test {

/// max|a − b| / max|b| (relative to the reference's scale; 0 when both are zero).
inline double relative_error(const nn::Tensor& a, const nn::Tensor& b) {
  REQUIRE(a.shape() == b.shape());
  double diff = 0.0, scale = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    diff = std::max(diff, std::abs(static_cast<double>(a[i]) - b[i]));
    scale = std::max(scale, std::abs(static_cast<double>(b[i])));
  }
  return scale == 0.0 ? diff : diff / scale;
}

inline void check_close(const cuda::Tensor& gpu, const nn::Tensor& cpu, const std::string& what,
                        double tolerance = 1e-4) {
  const double err = relative_error(gpu.to_host(), cpu);
  INFO(what << ": relative error " << err);
  CHECK(err <= tolerance);
}

/// ‖gpu − cpu‖₂ / ‖cpu‖₂ over one tensor (‖gpu − cpu‖₂ when the reference is zero).
inline double l2_relative_error(const nn::Tensor& gpu, const nn::Tensor& cpu) {
  REQUIRE(gpu.shape() == cpu.shape());
  double diff = 0.0, norm = 0.0;
  for (int64_t i = 0; i < cpu.numel(); ++i) {
    const double d = static_cast<double>(gpu[i]) - cpu[i];
    diff += d * d;
    norm += static_cast<double>(cpu[i]) * cpu[i];
  }
  return norm == 0.0 ? std::sqrt(diff) : std::sqrt(diff / norm);
}

/// One parameter's value (or gradient) on both backends, as host copies.
struct ParameterPair {
  std::string name;
  nn::Tensor gpu, cpu;
};

/// Every parameter's value (or gradient) of both layers, paired by name.
template <class CpuLayer, class GpuLayer>
std::vector<ParameterPair> parameter_pairs(CpuLayer& cpu_layer, GpuLayer& gpu_layer, bool grads) {
  std::map<std::string, cuda::Parameter> by_name;
  for (auto& p : gpu_layer.parameters()) by_name.emplace(p.name, p);
  std::vector<ParameterPair> pairs;
  for (auto& p : cpu_layer.parameters()) {
    REQUIRE(by_name.count(p.name) == 1);
    const cuda::Parameter& q = by_name.at(p.name);
    pairs.push_back({p.name, (grads ? q.grad : q.value)->to_host(), (grads ? p.grad : p.value)->clone()});  // copies
  }
  return pairs;
}

/// Each pair compared on its own in relative L2 against `bound` (what; one CHECK per tensor, so
/// a small tensor that is wrong is not hidden by the large ones beside it).
inline void check_each_in_l2(const std::vector<ParameterPair>& pairs, const std::string& what, double bound) {
  for (const ParameterPair& p : pairs) {
    const double err = l2_relative_error(p.gpu, p.cpu);
    INFO(p.name << " (" << what << "): L2 relative error " << err);
    CHECK(err <= bound);
  }
}

/// Parameters and buffers of both layers, paired by name.
template <class CpuLayer, class GpuLayer>
void check_parameters(CpuLayer& cpu_layer, GpuLayer& gpu_layer, double tolerance = 1e-4, bool grads = true) {
  std::map<std::string, cuda::Parameter> by_name;
  for (auto& p : gpu_layer.parameters()) by_name.emplace(p.name, p);
  auto cpu_params = cpu_layer.parameters();
  REQUIRE(cpu_params.size() == by_name.size());
  for (auto& p : cpu_params) {
    REQUIRE(by_name.count(p.name) == 1);
    check_close(*by_name.at(p.name).value, *p.value, p.name, tolerance);
    if (grads) check_close(*by_name.at(p.name).grad, *p.grad, p.name + " (grad)", tolerance);
  }
  std::map<std::string, cuda::Buffer> buffers;
  for (auto& b : gpu_layer.buffers()) buffers.emplace(b.name, b);
  for (auto& b : cpu_layer.buffers()) {
    REQUIRE(buffers.count(b.name) == 1);
    check_close(*buffers.at(b.name).value, *b.value, b.name, tolerance);
  }
}

}  // namespace tspipe::test
