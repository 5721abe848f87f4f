#pragma once
// The backend-generic part of Softmax over the last axis: checks, messages, and what the forward
// saves (its output y). A backend derives from SoftmaxShell<Backend, Itself> (CRTP) and supplies
// the row math, forward and backward side by side in its own file:
//   void forward_rows(const Tensor& x, Tensor& y, int64_t rows, int64_t d);
//   void backward_rows(const Tensor& y, const Tensor& dy, Tensor& dx, int64_t rows, int64_t d);
#include <tspipe/nn/layer_shells/checks.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace tspipe::nn::shells {

template <class B, class Derived>
class SoftmaxShell : public Layer<B> {
 public:
  using Tensor = typename B::Tensor;
  using Ctx = Context<B>;

  std::string kind() const override { return "Softmax"; }

  Tensor infer(const Tensor& x) override {
    check_input(kind(), x, 1, /*at_least=*/true);
    const int64_t d = x.size(-1);
    Tensor y(x.shape());
    derived().forward_rows(x, y, x.numel() / d, d);
    return y;
  }
  std::pair<Tensor, Ctx> forward(const Tensor& x) override {
    Tensor y = infer(x);
    return saving<B>(y, {y});
  }
  Tensor backward(Ctx& ctx, const Tensor& dy) override {
    check_saved(kind(), ctx, 1);
    const Tensor& y = ctx.tensors[0];
    check_grad(kind(), dy, y.shape());
    const int64_t d = y.size(-1);
    Tensor dx(y.shape());
    derived().backward_rows(y, dy, dx, y.numel() / d, d);
    return dx;
  }

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
