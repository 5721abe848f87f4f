#pragma once
// Softmax over the last axis (a warp per row); the forward saves y. Checks and messages are
// nn::shells::SoftmaxShell's; this is the compute.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/softmax.hpp>

namespace tspipe::cuda {

class Softmax final : public nn::shells::SoftmaxShell<Backend, Softmax> {
 private:
  friend class nn::shells::SoftmaxShell<Backend, Softmax>;
  void forward_rows(const Tensor& x, Tensor& y, int64_t rows, int64_t d);
  void backward_rows(const Tensor& y, const Tensor& dy, Tensor& dx, int64_t rows, int64_t d);
};

}  // namespace tspipe::cuda
