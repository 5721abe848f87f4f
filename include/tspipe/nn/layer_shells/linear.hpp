#pragma once
// The backend-generic part of Linear (y = x·Wᵀ + b over the last axis; W is [out, in], PyTorch's
// layout): argument and shape checks, messages, parameter names, what the forward saves, and the
// split backward. A backend derives from LinearShell<Backend, Itself> (CRTP) and supplies the
// compute, forward and backward side by side in its own file:
//   void forward_rows(const Tensor& x, Tensor& y, int64_t rows);        y = x·Wᵀ (+ b)
//   void backward_input_rows(const Tensor& dy, Tensor& dx, int64_t rows); dx = dy·W
//   void backward_weight_rows(const Tensor& x, const Tensor& dy, int64_t rows);  dW += dyᵀ·x, db += Σ dy
// and initialises weight/bias (and zeroed grads) in its constructor (init_bound() is torch's bound).
#include <tspipe/nn/layer_shells/checks.hpp>
#include <tspipe/nn/layer_shells/parameters.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::nn::shells {

template <class B, class Derived>
class LinearShell : public SplitBackwardLayer<B> {
 public:
  LinearShell(int64_t in_features, int64_t out_features, std::string label)
      : in_(in_features), out_(out_features), label_(std::move(label)) {
    if (in_ <= 0 || out_ <= 0)
      throw Error(who() + ": features must be positive, got in=" + std::to_string(in_) +
                  " out=" + std::to_string(out_));
  }

  std::string kind() const override { return "Linear"; }

  TensorOf<B> infer(const TensorOf<B>& x) override {
    check_features(who(), x, in_);
    TensorOf<B> y(output_shape(x));
    derived().forward_rows(x, y, x.numel() / in_);
    return y;
  }
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override { return saving<B>(infer(x), {x}); }
  TensorOf<B> backward_input(Context<B>& ctx, const TensorOf<B>& dy) override {
    const TensorOf<B>& x = saved_tensor(who(), ctx);
    check_grad(who(), dy, output_shape(x));
    TensorOf<B> dx(x.shape());
    derived().backward_input_rows(dy, dx, x.numel() / in_);
    return dx;
  }
  void backward_weight(Context<B>& ctx, const TensorOf<B>& dy) override {
    const TensorOf<B>& x = saved_tensor(who(), ctx);
    const int64_t rows = x.numel() / in_;
    if (dy.numel() != rows * out_) throw Error(who() + ": output gradient has shape " + to_string(dy.shape()));
    derived().backward_weight_rows(x, dy, rows);
  }
  std::vector<Parameter<B>> parameters() override { return weight_and_bias<B>(weight, weight_grad, bias, bias_grad); }

  int64_t in_features() const noexcept { return in_; }
  int64_t out_features() const noexcept { return out_; }
  TensorOf<B> weight, weight_grad, bias, bias_grad;  // bias undefined when constructed without one

 protected:
  std::string who() const { return describe(kind(), label_); }
  /// torch.nn.Linear's initialisation: W, b ~ U(−bound, bound), bound = 1/√in.
  float init_bound() const { return 1.0f / std::sqrt(static_cast<float>(in_)); }
  /// Seed of the bias draw (the weight uses the layer's seed itself).
  static uint64_t bias_seed(uint64_t seed) { return seed ^ 0xB1A5ull; }
  int64_t in_, out_;
  std::string label_;

 private:
  Shape output_shape(const TensorOf<B>& x) const {
    Shape s = x.shape();
    s.back() = out_;
    return s;
  }
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
