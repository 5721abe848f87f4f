#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/gemm.hpp>
#include <tspipe/cuda/launchers.hpp>
#include <tspipe/cuda/losses.hpp>
#include <tspipe/nn/loss_checks.hpp>

#include <cmath>
#include <optional>
#include <string>
#include <utility>

namespace tspipe::nn {

/// How the loss checks (loss_checks.hpp) see a device matrix.
template <>
struct LossMatrix<cuda::Tensor> {
  using Tensor = cuda::Tensor;
  static int64_t rows(const Tensor& m) { return m.size(0); }
  static int64_t cols(const Tensor& m) { return m.size(1); }
  static std::string unusable(const Tensor& m) {
    if (m.defined() && m.dim() == 2 && m.numel() > 0) return "";
    return " must be a non-empty [N, K] matrix, got " + (m.defined() ? to_string(m.shape()) : "(undefined)");
  }
  /// One reduction on the device; only the offending value is copied back.
  static std::optional<std::pair<int64_t, float>> first_non_finite(const Tensor& m) {
    const int64_t bad = cuda::launch::first_non_finite(m.data(), m.numel(), cuda::detail::stream());
    if (bad < 0) return std::nullopt;
    float value = 0.0f;
    TSPIPE_CUDA_CHECK(cudaMemcpy(&value, m.data() + bad, sizeof(float), cudaMemcpyDeviceToHost));
    return std::pair{bad, value};
  }
};

}  // namespace tspipe::nn

namespace tspipe::cuda {

namespace {

/// Labels checked on the host, then uploaded (as int32 bits inside a float tensor's storage).
Tensor upload_labels(std::string_view loss, std::span<const int> labels, const Tensor& logits) {
  nn::loss_checks::require_labels(loss, labels, logits);
  static_assert(sizeof(int) == sizeof(float));
  Tensor t({static_cast<int64_t>(labels.size())});
  TSPIPE_CUDA_CHECK(cudaMemcpyAsync(t.data(), labels.data(), labels.size() * sizeof(int), cudaMemcpyHostToDevice,
                                    detail::stream()));
  return t;
}

const int* as_labels(const Tensor& t) { return reinterpret_cast<const int*>(t.data()); }

/// Mean over rows of CE(scale·x, label) and its gradient (times weight) written to dx.
double cross_entropy_mean(const Tensor& logits, const int* labels, float weight, Tensor& dx) {
  const int64_t rows = logits.size(0), n = logits.size(1);
  Tensor row_loss({rows});
  launch::cross_entropy_rows(logits.data(), labels, dx.data(), row_loss.data(), rows, n, 1.0f,
                             weight / static_cast<float>(rows), detail::stream());
  return launch::sum(row_loss.data(), rows, detail::stream()) / static_cast<double>(rows);
}

}  // namespace

LossOutput CrossEntropyLoss::compute(const LossInput& input) const {
  nn::loss_checks::check_student_views(name(), input, 1);
  const Tensor& logits = input.student[0];
  const Tensor labels = upload_labels(name(), input.labels, logits);
  LossOutput out;
  Tensor dx(logits.shape());
  out.loss = cross_entropy_mean(logits, as_labels(labels), 1.0f, dx);
  out.d_student.push_back(std::move(dx));
  return out;
}

SoftTargetKDLoss::SoftTargetKDLoss(float temperature, float soft_weight)
    : temperature_(nn::loss_checks::checked_temperature("KD loss", temperature)),
      soft_weight_(nn::loss_checks::checked_soft_weight(soft_weight)) {}

LossOutput SoftTargetKDLoss::compute(const LossInput& input) const {
  nn::loss_checks::check_paired_views(name(), input, 1);
  const Tensor& s = input.student[0];
  const Tensor& t = input.teacher[0];
  nn::loss_checks::require_same_shape(name(), s, "student output view 0", t, "teacher output view 0");
  const Tensor labels = upload_labels(name(), input.labels, s);
  const int64_t rows = s.size(0), n = s.size(1);
  const cudaStream_t stream = detail::stream();
  Tensor ds(s.shape());
  const double hard = cross_entropy_mean(s, as_labels(labels), 1.0f, ds);
  const float soft_scale = soft_weight_ * temperature_ * temperature_;
  Tensor soft_grad(s.shape()), workspace(s.shape()), row_kl({rows});
  launch::kl_softened_rows(t.data(), s.data(), soft_grad.data(), workspace.data(), row_kl.data(), rows, n,
                           temperature_, soft_scale / static_cast<float>(rows), stream);
  launch::accumulate(ds.data(), soft_grad.data(), ds.numel(), stream);
  const double kl_sum = launch::sum(row_kl.data(), rows, stream);
  LossOutput out;
  out.loss = hard + static_cast<double>(soft_scale) * kl_sum / static_cast<double>(rows);
  out.d_student.push_back(std::move(ds));
  return out;
}

LossOutput ByolLoss::compute(const LossInput& input) const {
  nn::loss_checks::check_crossed_views(name(), input);
  LossOutput out;
  const cudaStream_t stream = detail::stream();
  for (int v = 0; v < 2; ++v) {
    const Tensor& q = input.student[static_cast<size_t>(v)];
    const Tensor& z = input.teacher[static_cast<size_t>(1 - v)];
    const int64_t rows = q.size(0), n = q.size(1);
    Tensor dq(q.shape()), q_unit(q.shape()), z_unit(q.shape()), row_cos({rows});
    launch::cosine_similarity_rows(q.data(), z.data(), dq.data(), q_unit.data(), z_unit.data(), row_cos.data(), rows,
                                   n, -2.0f / static_cast<float>(rows), stream);
    out.loss += 2.0 - 2.0 * launch::sum(row_cos.data(), rows, stream) / static_cast<double>(rows);
    out.d_student.push_back(std::move(dq));
  }
  return out;
}

MocoV3Loss::MocoV3Loss(float temperature)
    : temperature_(nn::loss_checks::checked_temperature("MoCo-v3 loss", temperature)) {}

LossOutput MocoV3Loss::compute(const LossInput& input) const {
  nn::loss_checks::check_crossed_views(name(), input);
  const Stream s = current_stream();
  LossOutput out;
  const float loss_scale = 2.0f * temperature_;
  for (int v = 0; v < 2; ++v) {
    const Tensor& q = input.student[static_cast<size_t>(v)];
    const Tensor& k = input.teacher[static_cast<size_t>(1 - v)];
    const int64_t n = q.size(0), dim = q.size(1);
    Tensor q_unit(q.shape()), k_unit(k.shape()), q_norm({n}), k_norm({n});
    launch::l2_normalize_rows(q.data(), q_unit.data(), q_norm.data(), n, dim, s.handle);
    launch::l2_normalize_rows(k.data(), k_unit.data(), k_norm.data(), n, dim, s.handle);
    // similarity = q̂·k̂ᵀ; each row's CE against its own index gives dS (the 2T factor times the
    // 1/T inside the CE gradient leaves 2/N per row, as in nn::MocoV3Loss).
    Tensor similarity({n, n}), d_similarity({n, n}), row_ce({n});
    gemm(s, false, true, n, n, dim, 1.0f, q_unit.data(), dim, k_unit.data(), dim, 0.0f, similarity.data(), n);
    launch::cross_entropy_diagonal_rows(similarity.data(), d_similarity.data(), row_ce.data(), n, n,
                                        1.0f / temperature_, loss_scale / static_cast<float>(n), s.handle);
    Tensor d_q_unit({n, dim}), dq(q.shape());
    gemm(s, false, false, n, dim, n, 1.0f, d_similarity.data(), n, k_unit.data(), dim, 0.0f, d_q_unit.data(), dim);
    launch::l2_normalize_backward_rows(q_unit.data(), d_q_unit.data(), dq.data(), q_norm.data(), n, dim, s.handle);
    out.loss += static_cast<double>(loss_scale) * launch::sum(row_ce.data(), n, s.handle) / static_cast<double>(n);
    out.d_student.push_back(std::move(dq));
  }
  return out;
}

LossOutput MseLoss::compute(const LossInput& input) const {
  if (input.student.empty()) throw Error("MSE loss: no student views");
  nn::loss_checks::check_paired_views(name(), input, input.student.size());
  LossOutput out;
  const cudaStream_t stream = detail::stream();
  for (size_t v = 0; v < input.student.size(); ++v) {
    const Tensor& s = input.student[v];
    const Tensor& t = input.teacher[v];
    nn::loss_checks::require_same_shape(name(), s, "student output view " + std::to_string(v), t,
                                        "teacher output view " + std::to_string(v));
    Tensor ds(s.shape()), err(s.shape());
    launch::squared_error(s.data(), t.data(), ds.data(), err.data(), s.numel(), 1.0f / static_cast<float>(s.numel()),
                          stream);
    out.loss += launch::sum(err.data(), err.numel(), stream) / static_cast<double>(s.numel());
    out.d_student.push_back(std::move(ds));
  }
  return out;
}

}  // namespace tspipe::cuda
