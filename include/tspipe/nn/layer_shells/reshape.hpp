#pragma once
// Layers that only move data. Flatten ([N, ...] → [N, rest], no copy) is backend-generic as a
// whole. SelectToken ([N, T, D] → [N, D], token `index`; ViT's class-token readout) keeps its checks
// and messages here; a backend derives from SelectTokenShell<Backend, Itself> (CRTP) and supplies
// the copies, forward and backward side by side in its own file:
//   void gather_token(const Tensor& x, Tensor& y);                 y[n] = x[n, index]
//   Tensor scatter_token(const Tensor& dy, const Shape& x_shape);   dx = 0 except dx[n, index] = dy[n]
#include <tspipe/nn/layer_shells/checks.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace tspipe::nn::shells {

template <class B>
class Flatten final : public Layer<B> {
 public:
  using Tensor = typename B::Tensor;
  using Ctx = Context<B>;

  std::string kind() const override { return "Flatten"; }
  Tensor infer(const Tensor& x) override {
    check_input(kind(), x, 1, /*at_least=*/true);
    return x.reshape({x.size(0), x.numel() / x.size(0)});
  }
  // Saves x: only its shape is needed; the storage is shared, so this costs nothing.
  std::pair<Tensor, Ctx> forward(const Tensor& x) override { return saving<B>(infer(x), {x}); }
  Tensor backward(Ctx& ctx, const Tensor& dy) override {
    check_saved(kind(), ctx, 1);
    const Tensor& x = ctx.tensors[0];
    check_grad(kind(), dy, {x.size(0), x.numel() / x.size(0)});
    return dy.reshape(x.shape());
  }
};

template <class B, class Derived>
class SelectTokenShell : public Layer<B> {
 public:
  using Tensor = typename B::Tensor;
  using Ctx = Context<B>;

  explicit SelectTokenShell(int64_t index) : index_(index) {}
  std::string kind() const override { return "SelectToken"; }

  Tensor infer(const Tensor& x) override {
    check(x);
    Tensor y({x.size(0), x.size(2)});
    derived().gather_token(x, y);
    return y;
  }
  std::pair<Tensor, Ctx> forward(const Tensor& x) override { return saving<B>(infer(x), {x}); }
  Tensor backward(Ctx& ctx, const Tensor& dy) override {
    check_saved(kind(), ctx, 1);
    const Tensor& x = ctx.tensors[0];
    check_grad(kind(), dy, {x.size(0), x.size(2)});
    return derived().scatter_token(dy, x.shape());
  }

 protected:
  int64_t index_;

 private:
  void check(const Tensor& x) const {
    check_input(kind(), x, 3);
    if (index_ < 0 || index_ >= x.size(1))
      throw Error(kind() + ": token " + std::to_string(index_) + " out of range for input " + to_string(x.shape()));
  }
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
