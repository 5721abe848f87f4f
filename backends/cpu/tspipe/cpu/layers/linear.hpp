#pragma once
// Linear: y = x·Wᵀ + b over the last axis; x [..., in] → y [..., out]. W is [out, in] (PyTorch's
// layout, so weights load by name). Real split backward: input grad and weight grad are separate.
// Checks, messages, parameter names and the split are nn::shells::LinearShell's; this is the compute.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer_shells/linear.hpp>

namespace tspipe::cpu {

class Linear final : public nn::shells::LinearShell<Backend, Linear> {
 public:
  /// Initialised like torch.nn.Linear: W, b ~ U(−1/√in, 1/√in), deterministic in `seed`.
  Linear(int64_t in_features, int64_t out_features, bool bias, uint64_t seed, std::string label = "");

 private:
  friend class nn::shells::LinearShell<Backend, Linear>;
  void forward_rows(const Tensor& x, Tensor& y, int64_t rows);
  void backward_input_rows(const Tensor& dy, Tensor& dx, int64_t rows);
  void backward_weight_rows(const Tensor& x, const Tensor& dy, int64_t rows);
};

}  // namespace tspipe::cpu
