#pragma once
// Conv2d on NCHW: im2col of each image, then one GEMM  y_n[out, OH·OW] = W[out, C·k·k] · col_n.
// 1×1 convolutions with stride 1 and no padding skip im2col (the image already is col).
// The backward recomputes im2col instead of saving it (saving would cost k² × the input memory).
#include <tspipe/cpu/backend.hpp>
#include <tspipe/kernels/im2col.hpp>

namespace tspipe::cpu {

class Conv2d final : public Layer {
 public:
  /// Weights ~ N(0, 2/(out·k·k)) (Kaiming, fan-out, as torchvision's ResNet); bias ~ U(±1/√fan_in).
  Conv2d(const nn::Conv2dOptions& options, uint64_t seed, std::string label = "");

  std::string kind() const override { return "Conv2d"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;
  Tensor backward_input(Context& ctx, const Tensor& dy) override;
  void backward_weight(Context& ctx, const Tensor& dy) override;
  std::vector<Parameter> parameters() override;

  const nn::Conv2dOptions& options() const noexcept { return opt_; }
  Tensor weight, weight_grad, bias, bias_grad;  // weight [out, in, k, k]

 private:
  std::string who() const { return detail::describe(kind(), label_); }
  kernels::ConvGeometry geometry(const Tensor& x) const;  // checks x
  nn::Shape output_shape(const Tensor& x, const kernels::ConvGeometry& g) const;
  bool is_pointwise() const noexcept;  // 1×1, stride 1, no padding: col = image
  nn::Conv2dOptions opt_;
  std::string label_;
};

}  // namespace tspipe::cpu
