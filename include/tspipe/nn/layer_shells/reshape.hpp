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
  std::string kind() const override { return "Flatten"; }
  TensorOf<B> infer(const TensorOf<B>& x) override {
    check_input(kind(), x, 1, /*at_least=*/true);
    return x.reshape({x.size(0), x.numel() / x.size(0)});
  }
  // Saves x: only its shape is needed; the storage is shared, so this costs nothing.
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override { return saving<B>(infer(x), {x}); }
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    const TensorOf<B>& x = saved_tensor(kind(), ctx);
    check_grad(kind(), dy, {x.size(0), x.numel() / x.size(0)});
    return dy.reshape(x.shape());
  }
};

template <class B, class Derived>
class SelectTokenShell : public Layer<B> {
 public:
  explicit SelectTokenShell(int64_t index) : index_(index) {}
  std::string kind() const override { return "SelectToken"; }

  TensorOf<B> infer(const TensorOf<B>& x) override {
    check(x);
    TensorOf<B> y({x.size(0), x.size(2)});
    derived().gather_token(x, y);
    return y;
  }
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override { return saving<B>(infer(x), {x}); }
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    const TensorOf<B>& x = saved_tensor(kind(), ctx);
    check_grad(kind(), dy, {x.size(0), x.size(2)});
    return derived().scatter_token(dy, x.shape());
  }

 protected:
  int64_t index_;

 private:
  void check(const TensorOf<B>& x) const {
    check_input(kind(), x, 3);
    if (index_ < 0 || index_ >= x.size(1))
      throw Error(kind() + ": token " + std::to_string(index_) + " out of range for input " + to_string(x.shape()));
  }
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
