#include <tspipe/cuda/gemm.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/layers/patch_embed.hpp>


namespace tspipe::cuda {

PatchEmbed::PatchEmbed(const nn::PatchEmbedOptions& options, uint64_t seed, std::string label)
    : PatchEmbedShell(options, std::move(label)) {
  init_parameters(seed, [](const nn::Tensor& t) { return Tensor::from_host(t); });
}

Tensor PatchEmbed::gather_patches(const Tensor& x) const {
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

Tensor PatchEmbed::backward_patches(const Tensor& x, const Tensor& patches, const Tensor& dy) {
  const int64_t n = x.size(0), d = opt_.dim, t = tokens(), first = opt_.class_token ? 1 : 0;
  const int64_t rows = patches.size(0), row = patches.size(1);
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

}  // namespace tspipe::cuda
