#pragma once
// Argument checks every backend's layers share, written once so both backends reject the same
// inputs with the same messages (tests pin them), and the small pieces every shell builds on.
// Generic over the tensor type: anything with defined(), dim() and shape() returning nn::Shape.
// Plain C++20, no backend headers.
#include <tspipe/error.hpp>
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/tensor.hpp>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::nn::shells {

/// "Linear 'fc'" or "Linear" — how messages name a layer.
inline std::string describe(const std::string& kind, const std::string& label) {
  return label.empty() ? kind : kind + " '" + label + "'";
}

/// Throws unless x has `rank` axes (or at least `rank` when at_least) and no zero extent.
template <class T>
void check_input(const std::string& who, const T& x, int64_t rank, bool at_least = false) {
  if (!x.defined()) throw Error(who + ": input tensor is undefined");
  if (at_least ? x.dim() < rank : x.dim() != rank)
    throw Error(who + ": input has shape " + to_string(x.shape()) + ", expected " + (at_least ? "at least " : "") +
                std::to_string(rank) + " axes");
  for (int64_t d : x.shape())
    if (d == 0) throw Error(who + ": input has a zero-sized dimension: " + to_string(x.shape()));
}

/// Throws unless dy has the shape the forward produced.
template <class T>
void check_grad(const std::string& who, const T& dy, const Shape& expected) {
  if (!dy.defined() || dy.shape() != expected)
    throw Error(who + ": output gradient has shape " + (dy.defined() ? to_string(dy.shape()) : "(undefined)") +
                ", expected " + to_string(expected));
}

/// Throws unless the context holds at least `count` saved tensors.
template <class B>
void check_saved(const std::string& who, const Context<B>& ctx, size_t count) {
  if (ctx.tensors.size() < count)
    throw Error(who + ": backward with a context that was not produced by this layer's forward");
}

/// The one tensor a forward saved with saving<B>(y, {t}), once `ctx` is known to hold it.
template <class B>
const TensorOf<B>& saved_tensor(const std::string& who, const Context<B>& ctx) {
  check_saved(who, ctx, 1);
  return ctx.tensors[0];
}

/// What a forward returns when its backward needs only `saved`: (y, a context holding them).
template <class B>
std::pair<TensorOf<B>, Context<B>> saving(TensorOf<B> y, std::vector<TensorOf<B>> saved) {
  Context<B> ctx;
  ctx.tensors = std::move(saved);
  return {std::move(y), std::move(ctx)};
}

/// A layer with a real split backward (Linear, SelfAttention): backward runs the two halves.
template <class B>
class SplitBackwardLayer : public Layer<B> {
 public:
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    TensorOf<B> dx = this->backward_input(ctx, dy);
    this->backward_weight(ctx, dy);
    return dx;
  }
};

/// Throws unless x's last axis has `features` entries (Linear, LayerNorm).
template <class T>
void check_features(const std::string& who, const T& x, int64_t features) {
  check_input(who, x, 1, /*at_least=*/true);
  if (x.size(-1) != features)
    throw Error(who + ": input has " + std::to_string(x.size(-1)) + " features, expected " +
                std::to_string(features) + " (input shape " + to_string(x.shape()) + ")");
}

}  // namespace tspipe::nn::shells
