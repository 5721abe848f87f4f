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
  std::string kind() const override { return "Softmax"; }

  TensorOf<B> infer(const TensorOf<B>& x) override {
    check_input(kind(), x, 1, /*at_least=*/true);
    const int64_t d = x.size(-1);
    TensorOf<B> y(x.shape());
    derived().forward_rows(x, y, x.numel() / d, d);
    return y;
  }
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override {
    TensorOf<B> y = infer(x);
    return saving<B>(y, {y});
  }
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    const TensorOf<B>& y = saved_tensor(kind(), ctx);
    check_grad(kind(), dy, y.shape());
    const int64_t d = y.size(-1);
    TensorOf<B> dx(y.shape());
    derived().backward_rows(y, dy, dx, y.numel() / d, d);
    return dx;
  }

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
