#pragma once
// The backend-generic part of pooling on NCHW: the argument and input checks of Pool2d (max /
// average), written once as free functions, and GlobalAvgPool ([N, C, H, W] → [N, C]) as a shell.
// A backend derives from GlobalAvgPoolShell<Backend, Itself> (CRTP) and supplies, side by side in
// its own file:
//   void forward_planes(const Tensor& x, Tensor& y, int64_t planes, int64_t plane);    y = mean per plane
//   void backward_planes(const Tensor& dy, Tensor& dx, int64_t planes, int64_t plane); dx = dy / plane
#include <tspipe/nn/layer_shells/checks.hpp>
#include <tspipe/nn/options.hpp>

#include <cstdint>
#include <string>
#include <utility>

namespace tspipe::nn::shells {

/// Throws unless kernel and stride are positive and 0 ≤ padding ≤ kernel / 2.
inline void check_pool_options(const std::string& who, const Pool2dOptions& opt) {
  if (opt.kernel <= 0 || opt.stride <= 0 || opt.padding < 0 || 2 * opt.padding > opt.kernel)
    throw Error(who + ": invalid options kernel=" + std::to_string(opt.kernel) + " stride=" +
                std::to_string(opt.stride) + " padding=" + std::to_string(opt.padding) +
                " (padding must be at most half the kernel)");
}

/// Throws unless x is [N, C, H, W] with the padded plane at least as large as the kernel.
template <class T>
void check_pool_input(const std::string& who, const T& x, const Pool2dOptions& opt) {
  check_input(who, x, 4);
  if (x.size(2) + 2 * opt.padding < opt.kernel || x.size(3) + 2 * opt.padding < opt.kernel)
    throw Error(who + ": input " + to_string(x.shape()) + " is smaller than the kernel " +
                std::to_string(opt.kernel));
}

template <class B, class Derived>
class GlobalAvgPoolShell : public Layer<B> {
 public:
  explicit GlobalAvgPoolShell(std::string label) : label_(std::move(label)) {}
  std::string kind() const override { return "GlobalAvgPool"; }

  TensorOf<B> infer(const TensorOf<B>& x) override {
    check_input(who(), x, 4);
    TensorOf<B> y({x.size(0), x.size(1)});
    derived().forward_planes(x, y, x.size(0) * x.size(1), x.size(2) * x.size(3));
    return y;
  }
  // Saves x: only its shape is read.
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override { return saving<B>(infer(x), {x}); }
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    const TensorOf<B>& x = saved_tensor(who(), ctx);
    check_grad(who(), dy, {x.size(0), x.size(1)});
    TensorOf<B> dx(x.shape());
    derived().backward_planes(dy, dx, x.size(0) * x.size(1), x.size(2) * x.size(3));
    return dx;
  }

 private:
  std::string who() const { return describe(kind(), label_); }
  Derived& derived() { return static_cast<Derived&>(*this); }
  std::string label_;
};

}  // namespace tspipe::nn::shells
