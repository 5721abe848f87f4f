#pragma once
// Dropout with a reproducible mask (see nn/layer_shells/dropout.hpp, which holds the checks, the
// messages and the mask draw); this is the compute. Identity in eval mode.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer_shells/dropout.hpp>

namespace tspipe::cpu {

class Dropout final : public nn::shells::DropoutShell<Backend, Dropout> {
 public:
  Dropout(float p, uint64_t seed, std::string label = "") : DropoutShell(p, seed, std::move(label)) {}

 private:
  friend class nn::shells::DropoutShell<Backend, Dropout>;
  Tensor mask(const nn::Shape& shape) { return host_mask(shape); }
  void multiply(const Tensor& a, const Tensor& m, Tensor& out);
};

}  // namespace tspipe::cpu
