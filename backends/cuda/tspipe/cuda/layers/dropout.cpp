#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/dropout.hpp>

namespace tspipe::cuda {

void Dropout::multiply(const Tensor& a, const Tensor& m, Tensor& out) {
  launch::multiply(a.data(), m.data(), out.data(), a.numel(), detail::stream());
}

Backend::LayerPtr Backend::dropout(float p, uint64_t seed, std::string label) {
  return std::make_unique<Dropout>(p, seed, std::move(label));
}

}  // namespace tspipe::cuda
