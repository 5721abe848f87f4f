#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/dropout.hpp>

namespace tspipe::cuda {

void Dropout::multiply(const Tensor& a, const Tensor& m, Tensor& out) {
  launch::multiply(a.data(), m.data(), out.data(), a.numel(), detail::stream());
}

}  // namespace tspipe::cuda
