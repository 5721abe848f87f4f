#pragma once
// The backend-generic part of the elementwise activations (ReLU, exact GELU): checks, messages and
// what the forward saves (its input). A backend derives from ActivationShell<Backend, Itself>
// (CRTP), names the function, and supplies the elementwise math (kernels/activations.hpp),
// forward and backward side by side in its own file:
//   void forward_elements(const Tensor& x, Tensor& y);
//   void backward_elements(const Tensor& x, const Tensor& dy, Tensor& dx);
#include <tspipe/nn/layer_shells/checks.hpp>

#include <string>
#include <utility>

namespace tspipe::nn::shells {

template <class B, class Derived>
class ActivationShell : public Layer<B> {
 public:
  using Tensor = typename B::Tensor;
  using Ctx = Context<B>;

  /// relu: ReLU, else GELU.
  explicit ActivationShell(bool relu) : relu_(relu) {}
  std::string kind() const override { return relu_ ? "ReLU" : "GELU"; }

  Tensor infer(const Tensor& x) override {
    check_input(kind(), x, 1, /*at_least=*/true);
    Tensor y(x.shape());
    derived().forward_elements(x, y);
    return y;
  }
  std::pair<Tensor, Ctx> forward(const Tensor& x) override { return saving<B>(infer(x), {x}); }
  Tensor backward(Ctx& ctx, const Tensor& dy) override {
    check_saved(kind(), ctx, 1);
    const Tensor& x = ctx.tensors[0];
    check_grad(kind(), dy, x.shape());
    Tensor dx(x.shape());
    derived().backward_elements(x, dy, dx);
    return dx;
  }

 protected:
  bool relu_;

 private:
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
