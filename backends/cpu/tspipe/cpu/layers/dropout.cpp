#include <tspipe/cpu/layers/dropout.hpp>

namespace tspipe::cpu {

void Dropout::multiply(const Tensor& a, const Tensor& m, Tensor& out) {
  for (int64_t i = 0; i < a.numel(); ++i) out[i] = a[i] * m[i];
}

Backend::LayerPtr Backend::dropout(float p, uint64_t seed, std::string label) {
  return std::make_unique<Dropout>(p, seed, std::move(label));
}

}  // namespace tspipe::cpu
