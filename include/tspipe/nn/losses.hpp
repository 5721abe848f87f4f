#pragma once
// Host-side losses over a batch (the loss contract, docs/design.md): a loss sees the student's
// outputs for every view, the teacher's outputs for every view and the labels, and returns the
// scalar loss plus d(loss)/d(student output) for every view. Teacher outputs get no gradient. A
// per-sample loss may be given one micro-batch's rows instead of the whole batch.
//
// Matrices are row-major, one row per sample. The row math lives in kernels/losses.hpp so that
// the CUDA backend computes the same thing; this file adds the batch reductions (accumulated in
// double) and the recipes (docs/design.md); the input checks are loss_checks.hpp's.
#include <tspipe/error.hpp>
#include <tspipe/kernels/losses.hpp>
#include <tspipe/nn/loss_checks.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tspipe::nn {

/// A read-only row-major matrix borrowed from its owner (a tensor, a std::vector, ...).
struct MatrixView {
  const float* data = nullptr;
  int rows = 0;
  int cols = 0;

  std::size_t size() const { return static_cast<std::size_t>(rows) * static_cast<std::size_t>(cols); }
  const float* row(int r) const { return data + static_cast<std::size_t>(r) * static_cast<std::size_t>(cols); }
};

struct LossInput {
  std::vector<MatrixView> student;  ///< student outputs, one matrix per view
  std::vector<MatrixView> teacher;  ///< teacher outputs, one matrix per view (no gradient)
  std::span<const int> labels;      ///< class per sample, for supervised losses
};

struct LossOutput {
  double loss = 0.0;
  std::vector<std::vector<float>> d_student;  ///< d(loss)/d(student[v]), same shape as student[v]
};

class Loss {
 public:
  virtual ~Loss() = default;
  virtual std::string_view name() const = 0;
  /// Throws tspipe::Error naming the offending input when views, shapes or labels do not fit the
  /// loss, or when any input holds NaN/Inf (a diverged step caught here names where it started).
  virtual LossOutput compute(const LossInput& input) const = 0;
  /// Whether the loss is the mean over the batch's samples of a term that reads only that
  /// sample's rows (of every view, and its label). Then the loss of any split of the batch into
  /// row slices, each slice's loss weighted by its share of the rows, sums to the batch's loss,
  /// and so do the gradients: the runtime may run it once per micro-batch (docs/design.md). A
  /// loss that compares samples with each other (InfoNCE's negatives) does not decompose.
  virtual bool per_sample() const { return false; }
};

/// How the loss checks (loss_checks.hpp) see a host matrix.
template <>
struct LossMatrix<MatrixView> {
  static int64_t rows(const MatrixView& m) { return m.rows; }
  static int64_t cols(const MatrixView& m) { return m.cols; }
  static std::string unusable(const MatrixView& m) {
    if (m.rows > 0 && m.cols > 0 && m.data != nullptr) return "";
    return " is empty (" + loss_checks::shape_text(m) + ")";
  }
  static std::optional<std::pair<int64_t, float>> first_non_finite(const MatrixView& m) {
    for (std::size_t i = 0; i < m.size(); ++i)
      if (!std::isfinite(m.data[i])) return std::pair{static_cast<int64_t>(i), m.data[i]};
    return std::nullopt;
  }
};

namespace detail {

/// Mean over the batch of −log softmax(x)[label]; adds the gradient (times `weight`) into dx.
inline double cross_entropy_mean(const MatrixView& logits, std::span<const int> labels,
                                 float weight, std::vector<float>& dx) {
  std::vector<float> row_grad(static_cast<std::size_t>(logits.cols));
  const float grad_weight = weight / static_cast<float>(logits.rows);
  double sum = 0.0;
  for (int r = 0; r < logits.rows; ++r) {
    sum += kernels::cross_entropy_row(logits.row(r), row_grad.data(), logits.cols,
                                      labels[static_cast<std::size_t>(r)], 1.0f, grad_weight);
    float* out = dx.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(logits.cols);
    for (int c = 0; c < logits.cols; ++c) out[c] += row_grad[static_cast<std::size_t>(c)];
  }
  return sum / logits.rows;
}

}  // namespace detail

/// Cross-entropy of the student's logits (one view) against the labels, mean over the batch.
class CrossEntropyLoss final : public Loss {
 public:
  std::string_view name() const override { return "cross-entropy loss"; }
  bool per_sample() const override { return true; }
  LossOutput compute(const LossInput& input) const override {
    loss_checks::check_student_views(name(), input, 1);
    const MatrixView& logits = input.student[0];
    loss_checks::require_labels(name(), input.labels, logits);
    LossOutput out;
    out.d_student.assign(1, std::vector<float>(logits.size(), 0.0f));
    out.loss = detail::cross_entropy_mean(logits, input.labels, 1.0f, out.d_student[0]);
    return out;
  }
};

/// Soft-target knowledge distillation (Hinton et al. 2015):
///   CE(s, y) + λ·T²·KL(softmax(t/T) ‖ softmax(s/T)),
/// both terms averaged over the batch (KL summed over classes, then the batch mean — PyTorch's
/// reduction="batchmean"). The T² keeps the soft term's gradient, which scales as 1/T², on the
/// same footing as the hard term's when T changes.
class SoftTargetKDLoss final : public Loss {
 public:
  explicit SoftTargetKDLoss(float temperature = 4.0f, float soft_weight = 0.1f)
      : temperature_(loss_checks::checked_temperature("KD loss", temperature)),
        soft_weight_(loss_checks::checked_soft_weight(soft_weight)) {}
  float temperature() const { return temperature_; }
  float soft_weight() const { return soft_weight_; }

  std::string_view name() const override { return "KD loss"; }
  bool per_sample() const override { return true; }
  LossOutput compute(const LossInput& input) const override {
    loss_checks::check_paired_views(name(), input, 1);
    const MatrixView& s = input.student[0];
    const MatrixView& t = input.teacher[0];
    loss_checks::require_same_shape(name(), s, "student output view 0", t, "teacher output view 0");
    loss_checks::require_labels(name(), input.labels, s);

    LossOutput out;
    out.d_student.assign(1, std::vector<float>(s.size(), 0.0f));
    std::vector<float>& ds = out.d_student[0];
    const double hard = detail::cross_entropy_mean(s, input.labels, 1.0f, ds);

    const float soft_scale = soft_weight_ * temperature_ * temperature_;
    const float grad_weight = soft_scale / static_cast<float>(s.rows);
    std::vector<float> row_grad(static_cast<std::size_t>(s.cols));
    std::vector<float> teacher_log_probs(static_cast<std::size_t>(s.cols));
    double kl_sum = 0.0;
    for (int r = 0; r < s.rows; ++r) {
      kl_sum += kernels::kl_softened_row(t.row(r), s.row(r), row_grad.data(),
                                         teacher_log_probs.data(), s.cols, temperature_,
                                         grad_weight);
      float* dst = ds.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(s.cols);
      for (int c = 0; c < s.cols; ++c) dst[c] += row_grad[static_cast<std::size_t>(c)];
    }
    out.loss = hard + static_cast<double>(soft_scale) * kl_sum / s.rows;
    return out;
  }

 private:
  float temperature_;
  float soft_weight_;
};

/// BYOL (Grill et al. 2020), symmetric: student views are the online predictions q(v1), q(v2),
/// teacher views the target projections z(v1), z(v2);
///   loss = mean_i [2 − 2·cos(q1_i, z2_i)] + mean_i [2 − 2·cos(q2_i, z1_i)],
/// each view's prediction matched against the other view's target.
class ByolLoss final : public Loss {
 public:
  std::string_view name() const override { return "BYOL loss"; }
  bool per_sample() const override { return true; }
  LossOutput compute(const LossInput& input) const override {
    loss_checks::check_crossed_views(name(), input);
    LossOutput out;
    out.loss = 0.0;
    for (int v = 0; v < 2; ++v) {
      const MatrixView& q = input.student[static_cast<std::size_t>(v)];
      const MatrixView& z = input.teacher[static_cast<std::size_t>(1 - v)];
      std::vector<float> dq(q.size());
      std::vector<float> q_unit(static_cast<std::size_t>(q.cols));
      std::vector<float> z_unit(static_cast<std::size_t>(q.cols));
      // d(2 − 2cos)/dq = −2·dcos/dq, and the batch mean divides by N.
      const float grad_weight = -2.0f / static_cast<float>(q.rows);
      double cos_sum = 0.0;
      for (int r = 0; r < q.rows; ++r)
        cos_sum += kernels::cosine_similarity_row(
            q.row(r), z.row(r), dq.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(q.cols),
            q_unit.data(), z_unit.data(), q.cols, grad_weight);
      out.loss += 2.0 - 2.0 * cos_sum / q.rows;
      out.d_student.push_back(std::move(dq));
    }
    return out;
  }
};

/// MoCo-v3 contrastive loss (Chen et al. 2021), symmetric:
///   loss = ctr(q1, k2) + ctr(q2, k1),  ctr(q, k) = 2T·CE(q̂·k̂ᵀ/T, arange(N)),
/// with q the student's (predictor) outputs, k the teacher's, both L2-normalised. Sample i's
/// positive is k_i; the other N−1 rows of the batch are its negatives, which is why the loss
/// needs the whole batch at once.
class MocoV3Loss final : public Loss {
 public:
  explicit MocoV3Loss(float temperature = 0.2f)
      : temperature_(loss_checks::checked_temperature("MoCo-v3 loss", temperature)) {}
  float temperature() const { return temperature_; }

  std::string_view name() const override { return "MoCo-v3 loss"; }
  LossOutput compute(const LossInput& input) const override {
    loss_checks::check_crossed_views(name(), input);
    LossOutput out;
    for (int v = 0; v < 2; ++v) {
      std::vector<float> dq;
      out.loss += contrastive(input.student[static_cast<std::size_t>(v)],
                              input.teacher[static_cast<std::size_t>(1 - v)], dq);
      out.d_student.push_back(std::move(dq));
    }
    return out;
  }

 private:
  /// ctr(q, k) and its gradient with respect to q (written to dq).
  double contrastive(const MatrixView& q, const MatrixView& k, std::vector<float>& dq) const {
    const int n = q.rows;
    const int dim = q.cols;
    const auto at = [dim](std::vector<float>& m, int r) {
      return m.data() + static_cast<std::size_t>(r) * static_cast<std::size_t>(dim);
    };
    std::vector<float> q_unit(q.size()), k_unit(k.size()), q_norm(static_cast<std::size_t>(n));
    for (int r = 0; r < n; ++r) {
      q_norm[static_cast<std::size_t>(r)] = kernels::l2_normalize_row(q.row(r), at(q_unit, r), dim);
      kernels::l2_normalize_row(k.row(r), at(k_unit, r), dim);
    }
    // Row r of the similarity matrix holds ⟨q̂_r, k̂_j⟩ for all j; its CE against class r
    // (scale 1/T) gives d(loss)/d(similarity) directly. The 2T factor times the 1/T inside
    // cross_entropy_row's gradient leaves 2/N per row.
    const float loss_scale = 2.0f * temperature_;
    std::vector<float> similarity(static_cast<std::size_t>(n));
    std::vector<float> d_similarity(static_cast<std::size_t>(n));
    std::vector<float> d_q_unit(static_cast<std::size_t>(dim));
    dq.assign(q.size(), 0.0f);
    double ce_sum = 0.0;
    for (int r = 0; r < n; ++r) {
      for (int j = 0; j < n; ++j)
        similarity[static_cast<std::size_t>(j)] = kernels::dot_row(at(q_unit, r), at(k_unit, j), dim);
      ce_sum += kernels::cross_entropy_row(similarity.data(), d_similarity.data(), n, r,
                                           1.0f / temperature_, loss_scale / static_cast<float>(n));
      // d q̂_r = Σ_j dS_rj · k̂_j, then back through the normalisation of q_r.
      for (int c = 0; c < dim; ++c) d_q_unit[static_cast<std::size_t>(c)] = 0.0f;
      for (int j = 0; j < n; ++j) {
        const float w = d_similarity[static_cast<std::size_t>(j)];
        const float* kj = at(k_unit, j);
        for (int c = 0; c < dim; ++c) d_q_unit[static_cast<std::size_t>(c)] += w * kj[c];
      }
      kernels::l2_normalize_row_backward(at(q_unit, r), d_q_unit.data(), at(dq, r), dim,
                                         q_norm[static_cast<std::size_t>(r)]);
    }
    return static_cast<double>(loss_scale) * ce_sum / n;
  }

  float temperature_;
};

/// Mean squared error between each student view and the teacher view of the same index
/// (feature/logit regression), summed over views: Σ_v mean_{i,j} (s_v − t_v)².
class MseLoss final : public Loss {
 public:
  std::string_view name() const override { return "MSE loss"; }
  bool per_sample() const override { return true; }
  LossOutput compute(const LossInput& input) const override {
    if (input.student.empty()) throw Error("MSE loss: no student views");
    loss_checks::check_paired_views(name(), input, input.student.size());
    LossOutput out;
    for (std::size_t v = 0; v < input.student.size(); ++v) {
      const MatrixView& s = input.student[v];
      const MatrixView& t = input.teacher[v];
      loss_checks::require_same_shape(name(), s, "student output view " + std::to_string(v), t,
                                      "teacher output view " + std::to_string(v));
      std::vector<float> ds(s.size());
      const float grad_weight = 1.0f / static_cast<float>(s.size());
      double sum = 0.0;
      for (std::size_t i = 0; i < s.size(); ++i)
        sum += kernels::squared_error(s.data[i], t.data[i], grad_weight, ds[i]);
      out.loss += sum / static_cast<double>(s.size());
      out.d_student.push_back(std::move(ds));
    }
    return out;
  }
};

}  // namespace tspipe::nn
