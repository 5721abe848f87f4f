#include <tspipe/cpu/layers/activations.hpp>

#include <tspipe/cpu/parallel.hpp>
#include <tspipe/kernels/activations.hpp>

namespace tspipe::cpu {

void Activation::forward_elements(const Tensor& x, Tensor& y) {
  const float* in = x.data();
  float* out = y.data();
  const bool relu = relu_;
  // GELU's erf costs ~20× a ReLU, so it is worth splitting at smaller sizes.
  parallel_for(x.numel(), relu ? kElementGrain : kElementGrain / 16, [&](int64_t begin, int64_t end) {
    if (relu)
      for (int64_t i = begin; i < end; ++i) out[i] = kernels::relu(in[i]);
    else
      for (int64_t i = begin; i < end; ++i) out[i] = kernels::gelu(in[i]);
  });
}

void Activation::backward_elements(const Tensor& x, const Tensor& dy, Tensor& dx) {
  const float* in = x.data();
  const float* g = dy.data();
  float* out = dx.data();
  const bool relu = relu_;
  parallel_for(x.numel(), relu ? kElementGrain : kElementGrain / 16, [&](int64_t begin, int64_t end) {
    if (relu)
      for (int64_t i = begin; i < end; ++i) out[i] = kernels::relu_backward(in[i], g[i]);
    else
      for (int64_t i = begin; i < end; ++i) out[i] = kernels::gelu_backward(in[i], g[i]);
  });
}

}  // namespace tspipe::cpu
