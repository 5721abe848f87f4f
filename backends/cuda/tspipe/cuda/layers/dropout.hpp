#pragma once
// Dropout with cpu::Dropout's masks: the mask of call k is drawn on the host by
// nn::shells::DropoutShell (which also holds the checks and messages) and uploaded, so both
// backends drop the same elements. Identity in eval mode or with p = 0.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/dropout.hpp>

namespace tspipe::cuda {

class Dropout final : public nn::shells::DropoutShell<Backend, Dropout> {
 public:
  Dropout(float p, uint64_t seed, std::string label = "") : DropoutShell(p, seed, std::move(label)) {}

 private:
  friend class nn::shells::DropoutShell<Backend, Dropout>;
  Tensor mask(const nn::Shape& shape) { return Tensor::from_host(host_mask(shape)); }
  void multiply(const Tensor& a, const Tensor& m, Tensor& out);
};

}  // namespace tspipe::cuda
