#pragma once
// Conv2d on NCHW as GEMMs over groups of images: the columns of nb images sit side by side in
// one matrix col [C·k·k, nb·OH·OW], and one GEMM  Y[out, nb·OH·OW] = W[out, C·k·k] · col  covers
// them all. Per-image GEMMs are slow where OH·OW is small (ResNet's last stages: 16 or 64
// pixels), because OpenBLAS packs the whole weight matrix again for every GEMM; nb is chosen so
// that a GEMM spans about kTargetColumns pixels, bounded by the column matrix's size.
// With nb = 1 the GEMM writes straight into the output; otherwise the result is scattered back
// to NCHW (a copy as big as the output, small beside the GEMM).
// 1×1 convolutions with stride 1 and no padding use the image itself as col when nb = 1.
// Backward: dcol = Wᵀ·dY then col2im gives dx; dW += dY·colᵀ. The backward recomputes im2col
// instead of saving it (saving would cost k² × the input memory in every pipelined context).
// Column matrices live in per-thread scratch (workspace.hpp); the im2col, col2im and copy loops
// run on the backend's threads (parallel.hpp).
#include <tspipe/cpu/backend.hpp>
#include <tspipe/kernels/im2col.hpp>
#include <tspipe/nn/layer_shells/conv2d.hpp>

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
  std::string who() const { return nn::shells::describe(kind(), label_); }
  kernels::ConvGeometry geometry(const Tensor& x) const;  // checks x
  nn::Shape output_shape(const Tensor& x, const kernels::ConvGeometry& g) const;
  bool is_pointwise() const noexcept;  // 1×1, stride 1, no padding: col = image
  struct Lowering;
  Lowering lowering(const Tensor& x) const;  // checks x
  /// The backward over all chunks: dx (when non-null, allocated here) and/or weight gradients.
  void backward_chunks(const Tensor& x, const Tensor& dy, Tensor* dx, bool weights);
  nn::Conv2dOptions opt_;
  std::string label_;
};

}  // namespace tspipe::cpu
