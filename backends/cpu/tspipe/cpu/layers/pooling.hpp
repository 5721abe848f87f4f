#pragma once
// Pooling on NCHW: MaxPool2d, AvgPool2d (padding counts in the average, as PyTorch's default),
// and global average pooling [N, C, H, W] → [N, C].
#include <tspipe/cpu/backend.hpp>
#include <tspipe/kernels/pooling.hpp>
#include <tspipe/nn/layer_shells/pooling.hpp>

namespace tspipe::cpu {

class Pool2d final : public Layer {
 public:
  enum class Mode { max, average };
  Pool2d(Mode mode, const nn::Pool2dOptions& options, std::string label = "");

  std::string kind() const override { return mode_ == Mode::max ? "MaxPool2d" : "AvgPool2d"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

 private:
  std::string who() const { return nn::shells::describe(kind(), label_); }
  kernels::PoolGeometry geometry(const Tensor& x) const;  // checks x
  Mode mode_;
  nn::Pool2dOptions opt_;
  std::string label_;
};

class GlobalAvgPool final : public nn::shells::GlobalAvgPoolShell<Backend, GlobalAvgPool> {
 public:
  explicit GlobalAvgPool(std::string label = "") : GlobalAvgPoolShell(std::move(label)) {}

 private:
  friend class nn::shells::GlobalAvgPoolShell<Backend, GlobalAvgPool>;
  void forward_planes(const Tensor& x, Tensor& y, int64_t planes, int64_t plane);
  void backward_planes(const Tensor& dy, Tensor& dx, int64_t planes, int64_t plane);
};

}  // namespace tspipe::cpu
