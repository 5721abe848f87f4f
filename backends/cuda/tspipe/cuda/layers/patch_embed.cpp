#include <tspipe/cuda/gemm.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/patch_embed.hpp>

#include <cmath>

namespace tspipe::cuda {

PatchEmbed::PatchEmbed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label)
    : opt_(options), label_(std::move(label)) {
  if (opt_.in_channels <= 0 || opt_.dim <= 0 || opt_.patch <= 0 || opt_.image_size <= 0 ||
      opt_.image_size % opt_.patch != 0)
    throw Error(who() + ": image size " + std::to_string(opt_.image_size) + " must be a positive multiple of patch " +
                std::to_string(opt_.patch) + " (channels " + std::to_string(opt_.in_channels) + ", dim " +
                std::to_string(opt_.dim) + ")");
  const int64_t fan_in = opt_.in_channels * opt_.patch * opt_.patch;
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  weight = Tensor::from_host(nn::Tensor::uniform({opt_.dim, opt_.in_channels, opt_.patch, opt_.patch}, seed, -bound, bound));
  bias = Tensor::from_host(nn::Tensor::uniform({opt_.dim}, seed ^ 0xB1A5ull, -bound, bound));
  pos_embed = Tensor::from_host(nn::Tensor::randn({1, tokens(), opt_.dim}, seed ^ 0x9051ull, 0.02f));
  weight_grad = Tensor::zeros(weight.shape());
  bias_grad = Tensor::zeros(bias.shape());
  pos_embed_grad = Tensor::zeros(pos_embed.shape());
  if (opt_.class_token) {
    cls_token = Tensor::from_host(nn::Tensor::randn({1, 1, opt_.dim}, seed ^ 0xC150ull, 0.02f));
    cls_token_grad = Tensor::zeros(cls_token.shape());
  }
}

int64_t PatchEmbed::tokens() const noexcept {
  const int64_t side = opt_.image_size / opt_.patch;
  return side * side + (opt_.class_token ? 1 : 0);
}

Tensor PatchEmbed::gather_patches(const Tensor& x) const {
  detail::check_input(who(), x, 4);
  if (x.size(1) != opt_.in_channels || x.size(2) != opt_.image_size || x.size(3) != opt_.image_size)
    throw Error(who() + ": input has shape " + nn::to_string(x.shape()) + ", expected [N, " +
                std::to_string(opt_.in_channels) + ", " + std::to_string(opt_.image_size) + ", " +
                std::to_string(opt_.image_size) + "]");
  const int64_t n = x.size(0), side = opt_.image_size / opt_.patch;
  Tensor patches({n * side * side, opt_.in_channels * opt_.patch * opt_.patch});
  launch::patch_gather(x.data(), patches.data(), n, opt_.in_channels, opt_.image_size, opt_.patch, detail::stream());
  return patches;
}

Tensor PatchEmbed::embed(const Tensor& patches, int64_t batch) const {
  const int64_t d = opt_.dim, t = tokens(), first = opt_.class_token ? 1 : 0;
  const int64_t rows = patches.size(0), row = patches.size(1);
  const Stream s = current_stream();
  Tensor projected({rows, d});
  gemm(s, false, true, rows, d, row, 1.0f, patches.data(), row, weight.data(), row, 0.0f, projected.data(), d);
  Tensor y({batch, t, d});
  launch::patch_assemble(projected.data(), first ? cls_token.data() : nullptr, pos_embed.data(), bias.data(), y.data(),
                         batch, t, d, first, s.handle);
  return y;
}

Tensor PatchEmbed::infer(const Tensor& x) { return embed(gather_patches(x), x.size(0)); }

std::pair<Tensor, Context> PatchEmbed::forward(const Tensor& x) {
  Context ctx;
  Tensor patches = gather_patches(x);
  Tensor y = embed(patches, x.size(0));
  ctx.tensors = {x, std::move(patches)};
  return {std::move(y), std::move(ctx)};
}

Tensor PatchEmbed::backward(Context& ctx, const Tensor& dy) {
  detail::check_saved(who(), ctx, 2);
  const Tensor& x = ctx.tensors[0];
  const Tensor& patches = ctx.tensors[1];
  const int64_t n = x.size(0), d = opt_.dim, t = tokens(), first = opt_.class_token ? 1 : 0;
  const int64_t rows = patches.size(0), row = patches.size(1);
  detail::check_grad(who(), dy, {n, t, d});
  const Stream s = current_stream();
  add_column_sums(s, dy.data(), n, t * d, t * d, pos_embed_grad.data());          // Σ over images
  if (first) add_column_sums(s, dy.data(), n, d, t * d, cls_token_grad.data());  // token 0 of each image
  Tensor d_projected({rows, d});
  launch::patch_extract_grad(dy.data(), d_projected.data(), n, t, d, first, s.handle);
  add_column_sums(s, d_projected.data(), rows, d, d, bias_grad.data());
  gemm(s, true, false, d, row, rows, 1.0f, d_projected.data(), d, patches.data(), row, 1.0f, weight_grad.data(),
       row);  // dW += dTᵀ·P
  Tensor d_patches({rows, row});
  gemm(s, false, false, rows, row, d, 1.0f, d_projected.data(), d, weight.data(), row, 0.0f, d_patches.data(), row);
  Tensor dx(x.shape());
  launch::patch_scatter(d_patches.data(), dx.data(), n, opt_.in_channels, opt_.image_size, opt_.patch, s.handle);
  return dx;
}

std::vector<Parameter> PatchEmbed::parameters() {
  std::vector<Parameter> out;
  if (opt_.class_token) out.push_back({"cls_token", &cls_token, &cls_token_grad, true});
  out.push_back({"pos_embed", &pos_embed, &pos_embed_grad, true});
  out.push_back({"proj.weight", &weight, &weight_grad, false});
  out.push_back({"proj.bias", &bias, &bias_grad, true});
  return out;
}

Backend::LayerPtr Backend::patch_embed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label) {
  return std::make_unique<PatchEmbed>(options, seed, std::move(label));
}

}  // namespace tspipe::cuda
