#pragma once
// Max / average 2-D pooling on cuDNN (average counts padding, as cpu::Pool2d and PyTorch's
// count_include_pad=True do), and global average pooling [N, C, H, W] → [N, C] (own kernel).
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/pooling.hpp>

#include <map>
#include <memory>
#include <mutex>

namespace tspipe::cuda {

namespace detail {
struct PoolPlan;
}

class Pool2d final : public Layer {
 public:
  enum class Mode { max, average };
  Pool2d(Mode mode, const nn::Pool2dOptions& options, std::string label = "");
  ~Pool2d() override;

  std::string kind() const override { return mode_ == Mode::max ? "MaxPool2d" : "AvgPool2d"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward(Context& ctx, const Tensor& dy) override;

 private:
  std::string who() const { return nn::shells::describe(kind(), label_); }
  const detail::PoolPlan& plan(const Tensor& x);
  Mode mode_;
  nn::Pool2dOptions opt_;
  std::string label_;
  std::mutex mutex_;
  std::map<std::vector<int64_t>, std::unique_ptr<detail::PoolPlan>> plans_;
};

class GlobalAvgPool final : public nn::shells::GlobalAvgPoolShell<Backend, GlobalAvgPool> {
 public:
  explicit GlobalAvgPool(std::string label = "") : GlobalAvgPoolShell(std::move(label)) {}

 private:
  friend class nn::shells::GlobalAvgPoolShell<Backend, GlobalAvgPool>;
  void forward_planes(const Tensor& x, Tensor& y, int64_t planes, int64_t plane);
  void backward_planes(const Tensor& dy, Tensor& dx, int64_t planes, int64_t plane);
};

}  // namespace tspipe::cuda
