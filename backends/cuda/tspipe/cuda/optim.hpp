#pragma once
// Optimizers (SGD/Nesterov, AdamW, LARS) and the fused momentum-teacher update over device
// parameters. Same options, validation, per-element math (kernels/optim.hpp, kernels/ema.hpp),
// name-keyed state and checkpoint format (nn::OptimizerState, downloaded on export) as the host
// optimizers in nn/optim.hpp, so a run can move between backends.
#include <tspipe/cuda/backend.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/nn/optim.hpp>

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tspipe::cuda {

class Optimizer {
 public:
  explicit Optimizer(double learning_rate) { set_learning_rate(learning_rate); }
  virtual ~Optimizer() = default;
  virtual std::string_view name() const = 0;

  /// One update of every parameter from its accumulated gradient (gradients are not zeroed).
  void step(const std::vector<Parameter>& params);
  void set_learning_rate(double learning_rate);
  double learning_rate() const { return learning_rate_; }

  /// Downloads the state as "<parameter>/<kind>" → values (the host optimizers' format).
  nn::OptimizerState export_state() const;
  /// Replaces the state; entries of a kind this optimizer does not keep are rejected.
  void import_state(const nn::OptimizerState& state);

 protected:
  virtual void update(const Parameter& p) = 0;
  virtual std::vector<std::string_view> state_kinds() const = 0;
  /// Called after import_state replaced the state (host mirrors of it must be dropped).
  virtual void state_replaced() {}
  /// The device state `kind` of p, created as zeros on first use.
  Tensor& state_for(const Parameter& p, std::string_view kind, int64_t size);
  float lr() const { return static_cast<float>(learning_rate_); }

 private:
  double learning_rate_ = 0.0;
  std::map<std::string, Tensor> state_;
};

class Sgd final : public Optimizer {
 public:
  explicit Sgd(const nn::SgdOptions& options);
  std::string_view name() const override { return "SGD"; }

 private:
  void update(const Parameter& p) override;
  std::vector<std::string_view> state_kinds() const override { return {"momentum"}; }
  nn::SgdOptions options_;
};

class AdamW final : public Optimizer {
 public:
  explicit AdamW(const nn::AdamWOptions& options);
  std::string_view name() const override { return "AdamW"; }

 private:
  void update(const Parameter& p) override;
  std::vector<std::string_view> state_kinds() const override { return {"step", "exp_avg", "exp_avg_sq"}; }
  void state_replaced() override { steps_.clear(); }
  nn::AdamWOptions options_;
  std::map<std::string, float> steps_;  // host mirror of the "step" entries (no device read per step)
};

class Lars final : public Optimizer {
 public:
  explicit Lars(const nn::LarsOptions& options);
  std::string_view name() const override { return "LARS"; }
  /// The trust ratio step() would use for p now (norms reduced with Thrust).
  float trust_ratio(const Parameter& p) const;

 private:
  void update(const Parameter& p) override;
  std::vector<std::string_view> state_kinds() const override { return {"momentum"}; }
  nn::LarsOptions options_;
};

/// ξ ← τ·ξ + (1−τ)·θ over every teacher parameter, paired with the student's by name and checked
/// (names, sizes, duplicates) before anything is written — then one fused kernel for all tensors.
/// The segment table is cached while the parameter tensors stay the same.
class MomentumTeacherUpdate {
 public:
  void operator()(const std::vector<Parameter>& teacher, const std::vector<Parameter>& student, float tau);

 private:
  std::vector<const float*> cached_pointers_;
  Tensor table_;
  int count_ = 0;
  int64_t total_ = 0;
};

}  // namespace tspipe::cuda
