#pragma once
// The backend-generic part of multi-head self-attention over tokens [N, T, D] (timm's Attention:
// qkv Linear → per-head softmax(Q·Kᵀ/√hd)·V → proj Linear): argument and input checks, messages,
// the two Linear children and their parameter names ("qkv.*", "proj.*"), and the forward / split
// backward around the attention core. A backend derives from
// SelfAttentionShell<Backend, Itself, its Linear> (CRTP) and supplies the core, forward and backward
// side by side in its own file:
//   static constexpr size_t saved_tensors;     how many tensors core_forward saves
//   Tensor core_infer(const Tensor& qkv_out);  [N, T, 3D] → [N, T, D]
//   Tensor core_forward(const Tensor& x, const Tensor& qkv_out, std::vector<Tensor>& saved);
//   Tensor core_backward(const std::vector<Tensor>& saved, const Tensor& d_attended);  → d(qkv_out)
#include <tspipe/nn/layer_shells/checks.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::nn::shells {

template <class B, class Derived, class LinearT>
class SelfAttentionShell : public SplitBackwardLayer<B> {
 public:
  SelfAttentionShell(int64_t dim, int64_t heads, uint64_t seed, std::string label)
      : qkv(dim, 3 * dim, true, seed, label.empty() ? "qkv" : label + ".qkv"),
        proj(dim, dim, true, seed + 1, label.empty() ? "proj" : label + ".proj"),
        dim_(dim),
        heads_(heads),
        label_(std::move(label)) {
    if (heads_ <= 0 || dim_ % heads_ != 0)
      throw Error(who() + ": dim " + std::to_string(dim_) + " is not divisible by heads " + std::to_string(heads_));
  }

  std::string kind() const override { return "SelfAttention"; }

  TensorOf<B> infer(const TensorOf<B>& x) override {
    check(x);
    return proj.infer(derived().core_infer(qkv.infer(x)));
  }
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override {
    check(x);
    Context<B> ctx;
    auto [qkv_out, qkv_ctx] = qkv.forward(x);
    TensorOf<B> attended = derived().core_forward(x, qkv_out, ctx.tensors);
    auto [y, proj_ctx] = proj.forward(attended);
    ctx.children = {std::move(qkv_ctx), std::move(proj_ctx)};
    return {std::move(y), std::move(ctx)};
  }
  TensorOf<B> backward_input(Context<B>& ctx, const TensorOf<B>& dy) override {
    check_saved(who(), ctx, Derived::saved_tensors);
    if (ctx.children.size() != 2) throw Error(who() + ": context was not produced by this layer's forward");
    const TensorOf<B> d_attended = proj.backward_input(ctx.children[1], dy);
    TensorOf<B> d_qkv = derived().core_backward(ctx.tensors, d_attended);
    ctx.pending_dy = {d_qkv};  // qkv's weight gradient needs it in backward_weight
    return qkv.backward_input(ctx.children[0], d_qkv);
  }
  void backward_weight(Context<B>& ctx, const TensorOf<B>& dy) override {
    if (ctx.pending_dy.empty() || ctx.children.size() != 2)
      throw Error(who() + ": backward_weight before backward_input");
    proj.backward_weight(ctx.children[1], dy);
    qkv.backward_weight(ctx.children[0], ctx.pending_dy.front());
    ctx.pending_dy.clear();
  }
  std::vector<Parameter<B>> parameters() override {
    std::vector<Parameter<B>> out;
    detail::append_named(out, qkv.parameters(), "qkv");
    detail::append_named(out, proj.parameters(), "proj");
    return out;
  }
  void set_training(bool training) override {
    this->training_ = training;
    qkv.set_training(training);
    proj.set_training(training);
  }

  LinearT qkv, proj;

 protected:
  std::string who() const { return describe(kind(), label_); }
  int64_t dim_, heads_;
  std::string label_;

 private:
  void check(const TensorOf<B>& x) const {
    check_input(who(), x, 3);
    if (x.size(2) != dim_)
      throw Error(who() + ": input has " + std::to_string(x.size(2)) + " features, expected " +
                  std::to_string(dim_) + " (input shape " + to_string(x.shape()) + ")");
  }
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
