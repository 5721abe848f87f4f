#pragma once
// Flatten [N, ...] → [N, rest] (no copy; wholly backend-generic) and SelectToken [N, T, D] → [N, D]
// (the class token; checks and messages are nn::shells::SelectTokenShell's, the copies are kernels).
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/reshape.hpp>

namespace tspipe::cuda {

using Flatten = nn::shells::Flatten<Backend>;

class SelectToken final : public nn::shells::SelectTokenShell<Backend, SelectToken> {
 public:
  using SelectTokenShell::SelectTokenShell;

 private:
  friend class nn::shells::SelectTokenShell<Backend, SelectToken>;
  void gather_token(const Tensor& x, Tensor& y);
  Tensor scatter_token(const Tensor& dy, const nn::Shape& x_shape);
};

}  // namespace tspipe::cuda
