#include <tspipe/cpu/layers/patch_embed.hpp>

#include <tspipe/cpu/gemm.hpp>

#include <cstring>

namespace tspipe::cpu {

PatchEmbed::PatchEmbed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label)
    : PatchEmbedShell(options, std::move(label)) {
  init_parameters(seed, [](nn::Tensor t) { return t; });
}

Tensor PatchEmbed::gather_patches(const Tensor& x) const {
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

Tensor PatchEmbed::backward_patches(const Tensor& x, const Tensor& patches, const Tensor& dy) {
  const int64_t n = x.size(0), d = opt_.dim, t = tokens(), first = opt_.class_token ? 1 : 0;
  const int64_t per_image = t - first, row = patches.size(1);
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

}  // namespace tspipe::cpu
