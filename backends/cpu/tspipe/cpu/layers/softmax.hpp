#pragma once
// Softmax over the last axis (row math from kernels/softmax.hpp). Saves its output. Checks and
// messages are nn::shells::SoftmaxShell's; this is the compute.
#include <tspipe/cpu/backend.hpp>
#include <tspipe/nn/layer_shells/softmax.hpp>

namespace tspipe::cpu {

class Softmax final : public nn::shells::SoftmaxShell<Backend, Softmax> {
 private:
  friend class nn::shells::SoftmaxShell<Backend, Softmax>;
  void forward_rows(const Tensor& x, Tensor& y, int64_t rows, int64_t d);
  void backward_rows(const Tensor& y, const Tensor& dy, Tensor& dx, int64_t rows, int64_t d);
};

}  // namespace tspipe::cpu
