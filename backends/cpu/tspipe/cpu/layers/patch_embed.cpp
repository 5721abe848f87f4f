#include <tspipe/cpu/layers/patch_embed.hpp>

#include <tspipe/cpu/gemm.hpp>

#include <cmath>
#include <cstring>

namespace tspipe::cpu {

PatchEmbed::PatchEmbed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label)
    : opt_(options), label_(std::move(label)) {
  if (opt_.in_channels <= 0 || opt_.dim <= 0 || opt_.patch <= 0 || opt_.image_size <= 0 ||
      opt_.image_size % opt_.patch != 0)
    throw Error(who() + ": image size " + std::to_string(opt_.image_size) + " must be a positive multiple of patch " +
                std::to_string(opt_.patch) + " (channels " + std::to_string(opt_.in_channels) + ", dim " +
                std::to_string(opt_.dim) + ")");
  const int64_t fan_in = opt_.in_channels * opt_.patch * opt_.patch;
  const float bound = 1.0f / std::sqrt(static_cast<float>(fan_in));
  weight = Tensor::uniform({opt_.dim, opt_.in_channels, opt_.patch, opt_.patch}, seed, -bound, bound);
  bias = Tensor::uniform({opt_.dim}, seed ^ 0xB1A5ull, -bound, bound);
  pos_embed = Tensor::randn({1, tokens(), opt_.dim}, seed ^ 0x9051ull, 0.02f);
  weight_grad = Tensor::zeros(weight.shape());
  bias_grad = Tensor::zeros(bias.shape());
  pos_embed_grad = Tensor::zeros(pos_embed.shape());
  if (opt_.class_token) {
    cls_token = Tensor::randn({1, 1, opt_.dim}, seed ^ 0xC150ull, 0.02f);
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
  const int64_t n = x.size(0), c = opt_.in_channels, s = opt_.image_size, p = opt_.patch, side = s / p;
  const int64_t row = c * p * p;
  Tensor patches({n * side * side, row});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t gy = 0; gy < side; ++gy)
      for (int64_t gx = 0; gx < side; ++gx) {
        float* dst = patches.data() + ((i * side + gy) * side + gx) * row;
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t ky = 0; ky < p; ++ky)
            std::memcpy(dst + (ch * p + ky) * p, x.data() + ((i * c + ch) * s + gy * p + ky) * s + gx * p,
                        static_cast<size_t>(p) * sizeof(float));
      }
  return patches;
}

Tensor PatchEmbed::embed(const Tensor& patches, int64_t batch) const {
  const int64_t d = opt_.dim, t = tokens(), first = opt_.class_token ? 1 : 0, per_image = t - first;
  const int64_t row = patches.size(1);
  Tensor y({batch, t, d});
  for (int64_t i = 0; i < batch; ++i) {
    float* yi = y.data() + i * t * d;
    // patch tokens: y[i, first:, :] = patches_i · Wᵀ  (W viewed as [D, C·p·p])
    gemm(false, true, per_image, d, row, 1.0f, patches.data() + i * per_image * row, row, weight.data(), row, 0.0f,
         yi + first * d, d);
    if (opt_.class_token) std::memcpy(yi, cls_token.data(), static_cast<size_t>(d) * sizeof(float));
    for (int64_t tok = 0; tok < t; ++tok)
      for (int64_t j = 0; j < d; ++j) yi[tok * d + j] += pos_embed[tok * d + j] + (tok >= first ? bias[j] : 0.0f);
  }
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
  const int64_t per_image = t - first, row = patches.size(1);
  detail::check_grad(who(), dy, {n, t, d});
  Tensor d_patches({n * per_image, row});
  for (int64_t i = 0; i < n; ++i) {
    const float* gi = dy.data() + i * t * d;
    for (int64_t k = 0; k < t * d; ++k) pos_embed_grad[k] += gi[k];
    if (opt_.class_token)
      for (int64_t j = 0; j < d; ++j) cls_token_grad[j] += gi[j];
    for (int64_t tok = first; tok < t; ++tok)
      for (int64_t j = 0; j < d; ++j) bias_grad[j] += gi[tok * d + j];
    const float* g_tokens = gi + first * d;
    const float* p_i = patches.data() + i * per_image * row;
    gemm(true, false, d, row, per_image, 1.0f, g_tokens, d, p_i, row, 1.0f, weight_grad.data(), row);  // dW += dTᵀ·P
    gemm(false, false, per_image, row, d, 1.0f, g_tokens, d, weight.data(), row, 0.0f,
         d_patches.data() + i * per_image * row, row);  // dP = dT·W
  }
  // scatter patch gradients back to the image (patches do not overlap: plain copies)
  const int64_t c = opt_.in_channels, s = opt_.image_size, p = opt_.patch, side = s / p;
  Tensor dx(x.shape());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t gy = 0; gy < side; ++gy)
      for (int64_t gx = 0; gx < side; ++gx) {
        const float* src = d_patches.data() + ((i * side + gy) * side + gx) * row;
        for (int64_t ch = 0; ch < c; ++ch)
          for (int64_t ky = 0; ky < p; ++ky)
            std::memcpy(dx.data() + ((i * c + ch) * s + gy * p + ky) * s + gx * p, src + (ch * p + ky) * p,
                        static_cast<size_t>(p) * sizeof(float));
      }
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

}  // namespace tspipe::cpu
