#pragma once
// Conv2d on cuDNN: weights [out, in, k, k] (PyTorch's layout, same initialisation as cpu::Conv2d).
// Per input shape the layer caches a plan — tensor/filter/convolution descriptors, the forward,
// backward-data and backward-filter algorithms cuDNN's heuristics rank first within the workspace
// limit, and their workspace sizes — so a steady-state step does no descriptor or algorithm work.
// Workspaces come from the caching allocator. Real split backward (data and filter separately).
#include <tspipe/cuda/backend.hpp>
#include <tspipe/nn/layer_shells/conv2d.hpp>

#include <map>
#include <memory>
#include <mutex>

namespace tspipe::cuda {

namespace detail {
struct ConvPlan;
}

class Conv2d final : public nn::shells::SplitBackwardLayer<Backend> {
 public:
  Conv2d(const nn::Conv2dOptions& options, uint64_t seed, std::string label = "");
  ~Conv2d() override;

  std::string kind() const override { return "Conv2d"; }
  Tensor infer(const Tensor& x) override;
  std::pair<Tensor, Context> forward(const Tensor& x) override;
  Tensor backward_input(Context& ctx, const Tensor& dy) override;
  void backward_weight(Context& ctx, const Tensor& dy) override;
  std::vector<Parameter> parameters() override;

  const nn::Conv2dOptions& options() const noexcept { return opt_; }
  /// Number of cached plans (one per distinct input shape and TF32 setting seen).
  size_t cached_plans() const;

  Tensor weight, weight_grad, bias, bias_grad;

 private:
  std::string who() const { return nn::shells::describe(kind(), label_); }
  const detail::ConvPlan& plan(const Tensor& x);
  nn::Conv2dOptions opt_;
  std::string label_;
  mutable std::mutex mutex_;
  std::map<std::vector<int64_t>, std::unique_ptr<detail::ConvPlan>> plans_;
};

}  // namespace tspipe::cuda
