#pragma once
// The backend-generic part of ViT patch embedding, [N, C, S, S] → tokens [N, 1 + (S/p)², D]:
// option and input checks, messages, parameters with timm's names ("proj.weight" [D, C, p, p],
// "proj.bias", "cls_token" [1, 1, D], "pos_embed" [1, T, D]) and their initialisation (drawn on
// the host, so every backend starts from the same weights), and what the forward saves (x and the
// gathered patches). A backend derives from PatchEmbedShell<Backend, Itself> (CRTP) and supplies,
// forward and backward side by side in its own file:
//   Tensor gather_patches(const Tensor& x);               [N·P, C·p·p], rows ordered (c, ki, kj)
//   Tensor embed(const Tensor& patches, int64_t batch);    project, add bias, class token, positions
//   Tensor backward_patches(const Tensor& x, const Tensor& patches, const Tensor& dy);  dx; accumulates grads
// and calls init_parameters(upload) in its constructor (upload: host nn::Tensor → Tensor).
#include <tspipe/nn/layer_shells/checks.hpp>
#include <tspipe/nn/options.hpp>

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace tspipe::nn::shells {

template <class B, class Derived>
class PatchEmbedShell : public Layer<B> {
 public:
  PatchEmbedShell(const PatchEmbedOptions& options, std::string label) : opt_(options), label_(std::move(label)) {
    if (opt_.in_channels <= 0 || opt_.dim <= 0 || opt_.patch <= 0 || opt_.image_size <= 0 ||
        opt_.image_size % opt_.patch != 0)
      throw Error(who() + ": image size " + std::to_string(opt_.image_size) +
                  " must be a positive multiple of patch " + std::to_string(opt_.patch) + " (channels " +
                  std::to_string(opt_.in_channels) + ", dim " + std::to_string(opt_.dim) + ")");
  }

  std::string kind() const override { return "PatchEmbed"; }

  TensorOf<B> infer(const TensorOf<B>& x) override {
    check(x);
    return derived().embed(derived().gather_patches(x), x.size(0));
  }
  std::pair<TensorOf<B>, Context<B>> forward(const TensorOf<B>& x) override {
    check(x);
    Context<B> ctx;
    TensorOf<B> patches = derived().gather_patches(x);
    TensorOf<B> y = derived().embed(patches, x.size(0));
    ctx.tensors = {x, std::move(patches)};
    return {std::move(y), std::move(ctx)};
  }
  TensorOf<B> backward(Context<B>& ctx, const TensorOf<B>& dy) override {
    check_saved(who(), ctx, 2);
    const TensorOf<B>& x = ctx.tensors[0];
    check_grad(who(), dy, {x.size(0), tokens(), opt_.dim});
    return derived().backward_patches(x, ctx.tensors[1], dy);
  }
  std::vector<Parameter<B>> parameters() override {
    std::vector<Parameter<B>> out;
    if (opt_.class_token) out.push_back({"cls_token", &cls_token, &cls_token_grad, true});
    out.push_back({"pos_embed", &pos_embed, &pos_embed_grad, true});
    out.push_back({"proj.weight", &weight, &weight_grad, false});
    out.push_back({"proj.bias", &bias, &bias_grad, true});
    return out;
  }

  /// T, including the class token.
  int64_t tokens() const noexcept {
    const int64_t side = opt_.image_size / opt_.patch;
    return side * side + (opt_.class_token ? 1 : 0);
  }
  TensorOf<B> weight, weight_grad, bias, bias_grad, cls_token, cls_token_grad, pos_embed, pos_embed_grad;

 protected:
  std::string who() const { return describe(kind(), label_); }
  /// proj like a conv (U(±1/√(C·p·p))); class token and position embedding ~ N(0, 0.02²).
  template <class Upload>
  void init_parameters(uint64_t seed, Upload upload) {
    const int64_t fan_in = opt_.in_channels * opt_.patch * opt_.patch;
    const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
    weight = upload(nn::Tensor::uniform({opt_.dim, opt_.in_channels, opt_.patch, opt_.patch}, seed, -bound, bound));
    bias = upload(nn::Tensor::uniform({opt_.dim}, seed ^ 0xB1A5ull, -bound, bound));
    pos_embed = upload(nn::Tensor::randn({1, tokens(), opt_.dim}, seed ^ 0x9051ull, 0.02f));
    weight_grad = TensorOf<B>::zeros(weight.shape());
    bias_grad = TensorOf<B>::zeros(bias.shape());
    pos_embed_grad = TensorOf<B>::zeros(pos_embed.shape());
    if (opt_.class_token) {
      cls_token = upload(nn::Tensor::randn({1, 1, opt_.dim}, seed ^ 0xC150ull, 0.02f));
      cls_token_grad = TensorOf<B>::zeros(cls_token.shape());
    }
  }
  PatchEmbedOptions opt_;
  std::string label_;

 private:
  void check(const TensorOf<B>& x) const {
    check_input(who(), x, 4);
    if (x.size(1) != opt_.in_channels || x.size(2) != opt_.image_size || x.size(3) != opt_.image_size)
      throw Error(who() + ": input has shape " + to_string(x.shape()) + ", expected [N, " +
                  std::to_string(opt_.in_channels) + ", " + std::to_string(opt_.image_size) + ", " +
                  std::to_string(opt_.image_size) + "]");
  }
  Derived& derived() { return static_cast<Derived&>(*this); }
};

}  // namespace tspipe::nn::shells
