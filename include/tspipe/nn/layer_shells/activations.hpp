#pragma once
// The backend-generic part of the elementwise activations (ReLU, exact GELU): checks, messages and
// what the forward saves (its input). A backend derives from ActivationShell<Backend, Itself>
// (CRTP), names the function, and supplies the elementwise math (kernels/activations.hpp),
// forward and backward side by side in its own file:
//   void forward_elements(const Tensor& x, Tensor& y);
//   void backward_elements(const Tensor& x, const Tensor& dy, Tensor& dx);
#include <tspipe/kernels/activations.hpp>
#include <tspipe/nn/layer_shells/checks.hpp>

#include <string>
#include <utility>

namespace tspipe::nn::shells {

template <class B, class Derived>
class ActivationShell : public Layer<B> {
 public:
  explicit ActivationShell(kernels::Activation function) : relu_(function == kernels::Activation::relu) {}
  std::string kind() const override { return relu_ ? "ReLU" : "GELU"; }

  TensorOf<B> infer(const TensorOf<B>& x) override {
    check_input(kind(), x, 1, /*at_least=*/true);
    TensorOf<B> y(x.shape());
    derived().forward_elements(x, y);
    return y;
  }
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override { return saving<B>(infer(x), {x}); }
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    const TensorOf<B>& x = saved_tensor(kind(), ctx);
    check_grad(kind(), dy, x.shape());
    TensorOf<B> dx(x.shape());
    derived().backward_elements(x, dy, dx);
    return dx;
  }

 protected:
  bool relu_;

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
