#include <tspipe/cpu/layers/dropout.hpp>

namespace tspipe::cpu {

void Dropout::multiply(const Tensor& a, const Tensor& m, Tensor& out) {
  for (int64_t i = 0; i < a.numel(); ++i) out[i] = a[i] * m[i];
}

}  // namespace tspipe::cpu
