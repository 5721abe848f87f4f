#pragma once
// The layer interface every backend implements, and the backend-generic composites
// (Sequential, Residual) that models are built from.
//
// A Backend B is a type with (see backends/cpu/tspipe/cpu/backend.hpp for the CPU one):
//   using Tensor = ...;                        float32, NCHW / row-major
//   static Tensor add(const Tensor& a, const Tensor& b);   a + b, fresh storage (same shapes)
//   static std::string shape_string(const Tensor&);         "[N, C, H, W]" for messages
//   layer factories used by the model builders (linear, conv2d, batch_norm2d, ...)
//
// Calls on a layer:
//   infer(x)                 → y        teacher path: nothing saved, no side effects
//   forward(x)               → (y, ctx) student path: ctx holds what the backward needs; in
//                                        training mode BatchNorm updates its running stats here
//   backward(ctx, dy)        → dx       accumulates (+=) weight gradients into Parameter::grad
//   backward_input(ctx, dy)  → dx       split backward (zero-bubble BI/BW): call backward_input,
//   backward_weight(ctx, dy)             then later backward_weight with the same ctx and dy;
//                                        together they equal one backward(ctx, dy). Layers
//                                        without a real split do all the work in backward_input.
//
// Mode: set_training(bool) (default: training). It governs infer and forward alike:
//   training — BatchNorm normalises with the micro-batch's own statistics (forward also updates
//              running_mean/var; infer does not), Dropout drops.
//   eval     — BatchNorm uses running statistics, Dropout is the identity.
// A frozen KD teacher is usually put in eval mode; a momentum teacher (BYOL) may stay in training
// mode so its BatchNorm uses batch statistics, as the published recipes do.
//
// Parameters have stable dotted names ("layer1.0.conv1.weight", "blocks.3.attn.qkv.weight"); the
// EMA pairs teacher and student parameters by name. Parameter::value/grad point into the layer, so
// optimizers and the EMA update them in place. BatchNorm running statistics are "buffers": named
// like parameters, not trained, saved by checkpoints.
#include <tspipe/error.hpp>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::nn {

/// B's tensor type, for code written once for every backend.
template <class B>
using TensorOf = typename B::Tensor;

template <class B>
struct Parameter {
  std::string name;
  typename B::Tensor* value = nullptr;
  typename B::Tensor* grad = nullptr;  // same shape as value; backward accumulates into it
  bool no_weight_decay = false;        // biases, norm scales/shifts, tokens, position embeddings
};

template <class B>
struct Buffer {
  std::string name;
  typename B::Tensor* value = nullptr;
};

/// What a forward saved for its backward. Leaf layers use `tensors`; composites keep one child
/// context per child. `pending_dy` keeps gradients between backward_input and backward_weight.
/// A context belongs to the layer whose forward made it: only that layer reads or writes it.
template <class B>
struct Context {
  std::vector<typename B::Tensor> tensors;
  std::vector<Context> children;
  std::vector<typename B::Tensor> pending_dy;
};

template <class B>
class Layer {
 public:
  using Tensor = typename B::Tensor;
  using Ctx = Context<B>;

  virtual ~Layer() = default;

  /// Short kind name used in messages ("Linear", "Conv2d", ...).
  virtual std::string kind() const = 0;

  virtual Tensor infer(const Tensor& x) = 0;
  virtual std::pair<Tensor, Ctx> forward(const Tensor& x) = 0;
  virtual Tensor backward(Ctx& ctx, const Tensor& dy) = 0;

  virtual Tensor backward_input(Ctx& ctx, const Tensor& dy) { return backward(ctx, dy); }
  virtual void backward_weight(Ctx& /*ctx*/, const Tensor& /*dy*/) {}

  /// Parameters with names relative to this layer ("weight", "conv1.weight").
  virtual std::vector<Parameter<B>> parameters() { return {}; }
  virtual std::vector<Buffer<B>> buffers() { return {}; }
  virtual void set_training(bool training) { training_ = training; }
  bool training() const noexcept { return training_; }

  /// Sets every parameter gradient to zero (what OPT does after a step).
  void zero_grad() {
    for (auto& p : parameters()) p.grad->zero();
  }
  /// Number of trainable scalars.
  int64_t parameter_count() {
    int64_t n = 0;
    for (auto& p : parameters()) n += p.value->numel();
    return n;
  }

 protected:
  bool training_ = true;
};

template <class B>
using LayerPtr = std::unique_ptr<Layer<B>>;

namespace detail {
inline std::string join_name(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  return prefix + "." + name;
}
/// Appends a child's parameters or buffers to `out`, renamed "<prefix>.<name>".
template <class Named>
void append_named(std::vector<Named>& out, std::vector<Named> items, const std::string& prefix) {
  for (auto& item : items) {
    item.name = join_name(prefix, item.name);
    out.push_back(std::move(item));
  }
}
}  // namespace detail

/// Children run one after another. Each child has a name that prefixes its parameter names
/// ("conv1" → "conv1.weight"); an empty name adds no prefix (used to concatenate blocks whose
/// parameters are already fully named).
template <class B>
class Sequential : public Layer<B> {
 public:
  using Tensor = typename B::Tensor;
  using Ctx = Context<B>;

  Sequential() = default;
  /// Concatenates blocks without prefixing their names (a whole model from its block list).
  explicit Sequential(std::vector<LayerPtr<B>> blocks) {
    for (auto& b : blocks) add("", std::move(b));
  }

  /// Appends a child named by its position, as torch.nn.Sequential does.
  Sequential& add(LayerPtr<B> layer) { return add(std::to_string(children_.size()), std::move(layer)); }
  Sequential& add(std::string name, LayerPtr<B> layer) {
    if (!layer) throw Error("Sequential: child '" + name + "' is null");
    names_.push_back(std::move(name));
    children_.push_back(std::move(layer));
    return *this;
  }

  std::string kind() const override { return "Sequential"; }
  size_t size() const noexcept { return children_.size(); }
  Layer<B>& operator[](size_t i) { return *children_.at(i); }
  const std::string& child_name(size_t i) const { return names_.at(i); }

  Tensor infer(const Tensor& x) override {
    Tensor h = x;
    for (auto& c : children_) h = c->infer(h);
    return h;
  }
  std::pair<Tensor, Ctx> forward(const Tensor& x) override {
    Ctx ctx;
    ctx.children.reserve(children_.size());
    Tensor h = x;
    for (auto& c : children_) {
      auto [y, child_ctx] = c->forward(h);
      h = std::move(y);
      ctx.children.push_back(std::move(child_ctx));
    }
    return {std::move(h), std::move(ctx)};
  }
  Tensor backward(Ctx& ctx, const Tensor& dy) override {
    check_ctx(ctx);
    Tensor g = dy;
    for (size_t i = children_.size(); i-- > 0;) g = children_[i]->backward(ctx.children[i], g);
    return g;
  }
  Tensor backward_input(Ctx& ctx, const Tensor& dy) override {
    check_ctx(ctx);
    Tensor g = dy;
    ctx.pending_dy.assign(children_.size(), Tensor{});
    for (size_t i = children_.size(); i-- > 0;) {
      ctx.pending_dy[i] = g;  // child i's weight gradient needs its output gradient later
      g = children_[i]->backward_input(ctx.children[i], g);
    }
    return g;
  }
  void backward_weight(Ctx& ctx, const Tensor& /*dy*/) override {
    check_ctx(ctx);
    if (ctx.pending_dy.size() != children_.size())
      throw Error("Sequential: backward_weight before backward_input");
    for (size_t i = 0; i < children_.size(); ++i) children_[i]->backward_weight(ctx.children[i], ctx.pending_dy[i]);
    ctx.pending_dy.clear();
  }

  std::vector<Parameter<B>> parameters() override {
    std::vector<Parameter<B>> out;
    for (size_t i = 0; i < children_.size(); ++i) detail::append_named(out, children_[i]->parameters(), names_[i]);
    return out;
  }
  std::vector<Buffer<B>> buffers() override {
    std::vector<Buffer<B>> out;
    for (size_t i = 0; i < children_.size(); ++i) detail::append_named(out, children_[i]->buffers(), names_[i]);
    return out;
  }
  void set_training(bool training) override {
    this->training_ = training;
    for (auto& c : children_) c->set_training(training);
  }

 private:
  void check_ctx(const Ctx& ctx) const {
    if (ctx.children.size() != children_.size())
      throw Error("Sequential: context has " + std::to_string(ctx.children.size()) +
                  " child contexts, expected " + std::to_string(children_.size()) +
                  " (was it produced by this layer's forward?)");
  }
  std::vector<std::string> names_;
  std::vector<LayerPtr<B>> children_;
};

/// One child under a name: its parameters become "<name>.<param>". Model builders wrap each
/// block this way so every block of the flat block list carries fully qualified names.
template <class B>
LayerPtr<B> named(std::string name, LayerPtr<B> layer) {
  auto s = std::make_unique<Sequential<B>>();
  s->add(std::move(name), std::move(layer));
  return s;
}

/// y = post(main(x) + shortcut(x)); shortcut null = identity, post null = identity.
/// main's parameters keep their names; the shortcut's get `shortcut_name` as prefix
/// (torchvision: "downsample"), post is parameter-free (an activation).
template <class B>
class Residual : public Layer<B> {
 public:
  using Tensor = typename B::Tensor;
  using Ctx = Context<B>;

  Residual(LayerPtr<B> main, LayerPtr<B> shortcut = nullptr, LayerPtr<B> post = nullptr,
           std::string shortcut_name = "downsample")
      : main_(std::move(main)), shortcut_(std::move(shortcut)), post_(std::move(post)),
        shortcut_name_(std::move(shortcut_name)) {
    if (!main_) throw Error("Residual: main branch is null");
  }
  std::string kind() const override { return "Residual"; }

  Tensor infer(const Tensor& x) override {
    Tensor y = add_branch(main_->infer(x), shortcut_ ? shortcut_->infer(x) : x);
    return post_ ? post_->infer(y) : y;
  }
  std::pair<Tensor, Ctx> forward(const Tensor& x) override {
    Ctx ctx;
    ctx.children.resize(3);
    auto [m, main_ctx] = main_->forward(x);
    ctx.children[0] = std::move(main_ctx);
    Tensor y;
    if (shortcut_) {
      auto [s, short_ctx] = shortcut_->forward(x);
      ctx.children[1] = std::move(short_ctx);
      y = add_branch(m, s);
    } else {
      y = add_branch(m, x);
    }
    if (post_) {
      auto [z, post_ctx] = post_->forward(y);
      ctx.children[2] = std::move(post_ctx);
      return {std::move(z), std::move(ctx)};
    }
    return {std::move(y), std::move(ctx)};
  }
  Tensor backward(Ctx& ctx, const Tensor& dy) override {
    check_ctx(ctx);
    const Tensor g = post_ ? post_->backward(ctx.children[2], dy) : dy;
    const Tensor dmain = main_->backward(ctx.children[0], g);
    return B::add(dmain, shortcut_ ? shortcut_->backward(ctx.children[1], g) : g);
  }
  Tensor backward_input(Ctx& ctx, const Tensor& dy) override {
    check_ctx(ctx);
    const Tensor g = post_ ? post_->backward_input(ctx.children[2], dy) : dy;
    ctx.pending_dy.assign(1, g);
    const Tensor dmain = main_->backward_input(ctx.children[0], g);
    return B::add(dmain, shortcut_ ? shortcut_->backward_input(ctx.children[1], g) : g);
  }
  void backward_weight(Ctx& ctx, const Tensor& dy) override {
    check_ctx(ctx);
    if (ctx.pending_dy.empty()) throw Error("Residual: backward_weight before backward_input");
    const Tensor g = ctx.pending_dy.front();
    if (post_) post_->backward_weight(ctx.children[2], dy);
    main_->backward_weight(ctx.children[0], g);
    if (shortcut_) shortcut_->backward_weight(ctx.children[1], g);
    ctx.pending_dy.clear();
  }

  std::vector<Parameter<B>> parameters() override {
    auto out = main_->parameters();
    if (shortcut_) detail::append_named(out, shortcut_->parameters(), shortcut_name_);
    return out;
  }
  std::vector<Buffer<B>> buffers() override {
    auto out = main_->buffers();
    if (shortcut_) detail::append_named(out, shortcut_->buffers(), shortcut_name_);
    return out;
  }
  void set_training(bool training) override {
    this->training_ = training;
    main_->set_training(training);
    if (shortcut_) shortcut_->set_training(training);
    if (post_) post_->set_training(training);
  }

 private:
  // Out of place: a branch's output may alias something its layers saved (or the input x).
  static Tensor add_branch(const Tensor& m, const Tensor& s) {
    if (B::shape_string(m) != B::shape_string(s))
      throw Error("Residual: main branch output " + B::shape_string(m) + " and shortcut output " +
                  B::shape_string(s) + " differ");
    return B::add(m, s);
  }
  void check_ctx(const Ctx& ctx) const {
    if (ctx.children.size() != 3) throw Error("Residual: context was not produced by Residual::forward");
  }
  LayerPtr<B> main_, shortcut_, post_;
  std::string shortcut_name_;
};

}  // namespace tspipe::nn
