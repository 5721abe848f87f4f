#pragma once
// The backend-generic part of LayerNorm over the last axis ([..., D], learned γ "weight" and
// β "bias"): checks, messages, parameters and what the forward saves (x and per-row (mean, rstd)).
// A backend derives from LayerNormShell<Backend, Itself> (CRTP) and supplies the compute, forward
// and backward side by side in its own file:
//   void forward_rows(const Tensor& x, Tensor& y, Tensor* stats, int64_t rows);  stats [rows, 2] or null
//   void backward_rows(const Tensor& x, const Tensor& stats, const Tensor& dy, Tensor& dx, int64_t rows);
//        (accumulates into weight_grad and bias_grad)
// and calls init_parameters() in its constructor.
#include <tspipe/nn/layer_shells/checks.hpp>
#include <tspipe/nn/layer_shells/parameters.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::nn::shells {

template <class B, class Derived>
class LayerNormShell : public Layer<B>, public AffineParameters<B> {
 public:
  LayerNormShell(int64_t features, std::string label, float eps)
      : features_(features), label_(std::move(label)), eps_(eps) {
    if (features_ <= 0) throw Error(who() + ": features must be positive, got " + std::to_string(features_));
  }

  std::string kind() const override { return "LayerNorm"; }

  TensorOf<B> infer(const TensorOf<B>& x) override { return run(x, nullptr); }
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override {
    Context<B> ctx;
    TensorOf<B> stats;
    TensorOf<B> y = run(x, &stats);
    ctx.tensors = {x, std::move(stats)};
    return {std::move(y), std::move(ctx)};
  }
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    check_saved(who(), ctx, 2);
    const TensorOf<B>& x = ctx.tensors[0];
    const TensorOf<B>& stats = ctx.tensors[1];
    check_grad(who(), dy, x.shape());
    TensorOf<B> dx(x.shape());
    derived().backward_rows(x, stats, dy, dx, x.numel() / features_);
    return dx;
  }
  std::vector<Parameter<B>> parameters() override { return this->affine_parameters(); }

 protected:
  std::string who() const { return describe(kind(), label_); }
  /// γ = 1, β = 0, zero gradients. The derived constructor calls it after any checks of its own,
  /// so a bad argument is reported before anything is allocated.
  void init_parameters() { this->init_affine(features_); }
  int64_t features_;
  std::string label_;
  float eps_;

 private:
  TensorOf<B> run(const TensorOf<B>& x, TensorOf<B>* stats) {
    check_features(who(), x, features_);
    const int64_t rows = x.numel() / features_;
    TensorOf<B> y(x.shape());
    if (stats) *stats = TensorOf<B>({rows, 2});
    derived().forward_rows(x, y, stats, rows);
    return y;
  }
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
