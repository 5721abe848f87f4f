#pragma once
// Linear: y = x·Wᵀ + b over the last axis (cuBLAS). Same layout, initialisation and names as
// cpu::Linear; real split backward (input grad and weight grad are separate GEMMs). Checks,
// messages, parameter names and the split are nn::shells::LinearShell's; this is the compute.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/linear.hpp>

namespace tspipe::cuda {

class Linear final : public nn::shells::LinearShell<Backend, Linear> {
 public:
  Linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed, std::string label = "");

 private:
  friend class nn::shells::LinearShell<Backend, Linear>;
  void forward_rows(const Tensor& x, Tensor& y, int64_t rows);
  void backward_input_rows(const Tensor& dy, Tensor& dx, int64_t rows);
  void backward_weight_rows(const Tensor& x, const Tensor& dy, int64_t rows);
};

}  // namespace tspipe::cuda
