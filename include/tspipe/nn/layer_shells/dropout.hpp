#pragma once
// The backend-generic part of Dropout with a reproducible mask: element i of the k-th training call
// keeps its value (scaled by 1/(1−p)) unless hash(seed, k, i) < p. The mask is drawn on the host
// here, once for every backend, so all backends drop the same elements for the same seed and call
// count (what the pipelined-vs-sequential and CPU-vs-GPU comparisons need). Identity in eval mode
// or with p = 0. A backend derives from DropoutShell<Backend, Itself> (CRTP) and supplies, side by
// side in its own file:
//   Tensor mask(const Shape& shape);   host_mask(shape) where the backend computes
//   void multiply(const Tensor& a, const Tensor& m, Tensor& out);   out = a ⊙ m (forward and backward)
#include <tspipe/nn/layer_shells/checks.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace tspipe::nn::shells {

template <class B, class Derived>
class DropoutShell : public Layer<B> {
 public:
  DropoutShell(float p, uint64_t seed, std::string label) : p_(p), seed_(seed), label_(std::move(label)) {
    if (!(p_ >= 0.0f && p_ < 1.0f))
      throw Error(who() + ": probability " + std::to_string(p_) + " outside [0, 1)");
  }
  std::string kind() const override { return "Dropout"; }

  TensorOf<B> infer(const TensorOf<B>& x) override {
    check_input(who(), x, 1, /*at_least=*/true);
    if (!this->training_ || p_ == 0.0f) return x;
    const TensorOf<B> m = derived().mask(x.shape());
    TensorOf<B> y(x.shape());
    derived().multiply(x, m, y);
    return y;
  }
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override {
    check_input(who(), x, 1, /*at_least=*/true);
    Context<B> ctx;
    if (!this->training_ || p_ == 0.0f) return {x, std::move(ctx)};  // empty ctx: backward passes dy through
    TensorOf<B> m = derived().mask(x.shape());
    TensorOf<B> y(x.shape());
    derived().multiply(x, m, y);
    ctx.tensors = {std::move(m)};
    return {std::move(y), std::move(ctx)};
  }
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    if (ctx.tensors.empty()) return dy;
    const TensorOf<B>& m = ctx.tensors[0];
    check_grad(who(), dy, m.shape());
    TensorOf<B> dx(dy.shape());
    derived().multiply(dy, m, dx);
    return dx;
  }

  uint64_t calls() const noexcept { return calls_; }
  void set_calls(uint64_t calls) noexcept { calls_ = calls; }  // e.g. restored from a checkpoint

 protected:
  /// The scaled keep-mask of the next call, on the host.
  nn::Tensor host_mask(const Shape& shape) {
    nn::Tensor m(shape);
    Rng rng(seed_ ^ (0x632BE59BD9B4E019ull * ++calls_));
    const float keep_scale = 1.0f / (1.0f - p_);
    for (float& v : m.span()) v = rng.uniform() < p_ ? 0.0f : keep_scale;
    return m;
  }

 private:
  std::string who() const { return describe(kind(), label_); }
  Derived& derived() { return static_cast<Derived&>(*this); }
  float p_;
  uint64_t seed_, calls_ = 0;
  std::string label_;
};

}  // namespace tspipe::nn::shells
