#pragma once
// Layers that only move data: Flatten ([N, ...] → [N, rest]) and SelectToken
// ([N, T, D] → [N, D], token `index`; ViT's class-token readout). Flatten is wholly
// backend-generic; SelectToken's checks and messages are nn::shells::SelectTokenShell's.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer_shells/reshape.hpp>

namespace tspipe::cpu {

using Flatten = nn::shells::Flatten<Backend>;

class SelectToken final : public nn::shells::SelectTokenShell<Backend, SelectToken> {
 public:
  using SelectTokenShell::SelectTokenShell;

 private:
  friend class nn::shells::SelectTokenShell<Backend, SelectToken>;
  void gather_token(const Tensor& x, Tensor& y);
  Tensor scatter_token(const Tensor& dy, const nn::Shape& x_shape);
};

}  // namespace tspipe::cpu
