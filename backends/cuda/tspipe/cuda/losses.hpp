#pragma once
// The losses of nn/losses.hpp over device tensors: same recipes, same row math
// (kernels/losses.hpp, a thread per row), batch sums reduced with Thrust in double. A loss sees
// the whole batch (docs/design.md): student outputs per view, teacher outputs per view and labels, and
// returns the scalar loss and d(loss)/d(student output) per view, on the device.
#include <tspipe/cuda/backend.hpp>

#include <span>
#include <string_view>
#include <vector>

namespace tspipe::cuda {

struct LossInput {
  std::vector<Tensor> student;      ///< [N, K] per view
  std::vector<Tensor> teacher;      ///< [N, K] per view (no gradient)
  std::span<const int> labels;      ///< host labels, for supervised losses
};

struct LossOutput {
  double loss = 0.0;
  std::vector<Tensor> d_student;
};

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string_view name() const = 0;
  /// Throws tspipe::Error naming the offending input for wrong views, shapes, labels or NaN/Inf.
  virtual LossOutput compute(const LossInput& input) const = 0;
  /// Whether the loss decomposes into per-sample terms, as nn::Loss::per_sample says (then the
  /// runtime may run it once per micro-batch).
  virtual bool per_sample() const { return false; }
};

class CrossEntropyLoss final : public Loss {
 public:
  std::string_view name() const override { return "cross-entropy loss"; }
  bool per_sample() const override { return true; }
  LossOutput compute(const LossInput& input) const override;
};

/// CE(s, y) + λ·T²·KL(softmax(t/T) ‖ softmax(s/T)), batch means.
class SoftTargetKDLoss final : public Loss {
 public:
  explicit SoftTargetKDLoss(float temperature = 4.0f, float soft_weight = 0.1f);
  std::string_view name() const override { return "KD loss"; }
  bool per_sample() const override { return true; }
  LossOutput compute(const LossInput& input) const override;

 private:
  float temperature_, soft_weight_;
};

/// Symmetric BYOL: mean[2 − 2cos(q1, z2)] + mean[2 − 2cos(q2, z1)].
class ByolLoss final : public Loss {
 public:
  std::string_view name() const override { return "BYOL loss"; }
  bool per_sample() const override { return true; }
  LossOutput compute(const LossInput& input) const override;
};

/// Symmetric MoCo-v3: ctr(q1, k2) + ctr(q2, k1), ctr = 2T·CE(q̂·k̂ᵀ/T, arange(N)).
class MocoV3Loss final : public Loss {
 public:
  explicit MocoV3Loss(float temperature = 0.2f);
  std::string_view name() const override { return "MoCo-v3 loss"; }
  LossOutput compute(const LossInput& input) const override;

 private:
  float temperature_;
};

/// Σ_v mean (s_v − t_v)².
class MseLoss final : public Loss {
 public:
  std::string_view name() const override { return "MSE loss"; }
  bool per_sample() const override { return true; }
  LossOutput compute(const LossInput& input) const override;
};

}  // namespace tspipe::cuda
