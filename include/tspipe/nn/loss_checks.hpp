#pragma once
// The input checks of the batch losses, written once for the host losses (nn/losses.hpp) and the
// CUDA backend's (cuda/losses.hpp), so both reject the same inputs with the same messages. They
// are generic over the matrix type M a loss input holds per view ([N, K], one row per sample),
// seen through LossMatrix<M>, which each matrix type specialises:
//   static int64_t rows(const M&), cols(const M&);
//   static std::string unusable(const M&);   why M is no non-empty [N, K] matrix, "" when it is one
//   static std::optional<std::pair<int64_t, float>> first_non_finite(const M&);  row-major index, value
#include <tspipe/error.hpp>

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

template <class M>
struct LossMatrix;

namespace loss_checks {

template <class M>
std::string shape_text(const M& m) {
  return std::to_string(LossMatrix<M>::rows(m)) + "x" + std::to_string(LossMatrix<M>::cols(m));
}

/// Throws unless there are `expected` views and each is a non-empty [N, K] matrix.
template <class M>
void require_views(std::string_view loss, std::string_view side, const std::vector<M>& views, std::size_t expected) {
  if (views.size() != expected)
    throw Error(std::string(loss) + ": expected " + std::to_string(expected) + " " + std::string(side) +
                " view(s), got " + std::to_string(views.size()));
  for (std::size_t v = 0; v < views.size(); ++v)
    if (const std::string problem = LossMatrix<M>::unusable(views[v]); !problem.empty())
      throw Error(std::string(loss) + ": " + std::string(side) + " output view " + std::to_string(v) + problem);
}

/// Throws naming the view, row and column of the first NaN or Inf (a diverged step caught here
/// names where it started).
template <class M>
void require_finite(std::string_view loss, std::string_view side, const std::vector<M>& views) {
  for (std::size_t v = 0; v < views.size(); ++v)
    if (const auto bad = LossMatrix<M>::first_non_finite(views[v])) {
      const int64_t cols = LossMatrix<M>::cols(views[v]);
      throw Error(std::string(loss) + ": " + std::string(side) + " output view " + std::to_string(v) + " row " +
                  std::to_string(bad->first / cols) + " col " + std::to_string(bad->first % cols) + " is " +
                  (std::isnan(bad->second) ? "NaN" : "Inf"));
    }
}

template <class M>
void require_same_shape(std::string_view loss, const M& a, const std::string& a_name, const M& b,
                        const std::string& b_name) {
  if (LossMatrix<M>::rows(a) != LossMatrix<M>::rows(b) || LossMatrix<M>::cols(a) != LossMatrix<M>::cols(b))
    throw Error(std::string(loss) + ": " + a_name + " is " + shape_text(a) + " but " + b_name + " is " +
                shape_text(b));
}

/// Throws unless there is one label per row of `logits`, each a column index of it.
template <class M>
void require_labels(std::string_view loss, std::span<const int> labels, const M& logits) {
  const int64_t rows = LossMatrix<M>::rows(logits), cols = LossMatrix<M>::cols(logits);
  if (static_cast<int64_t>(labels.size()) != rows)
    throw Error(std::string(loss) + ": " + std::to_string(labels.size()) + " labels for a batch of " +
                std::to_string(rows));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= cols)
      throw Error(std::string(loss) + ": label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                  ", outside [0, " + std::to_string(cols) + ")");
}

/// The loss's softmax temperature, once known to be positive and finite.
inline float checked_temperature(std::string_view loss, float temperature) {
  if (!(temperature > 0.0f) || !std::isfinite(temperature))
    throw Error(std::string(loss) + ": temperature must be positive and finite, got " + std::to_string(temperature));
  return temperature;
}

/// The KD loss's soft-target weight λ, once known to be ≥ 0 and finite.
inline float checked_soft_weight(float soft_weight) {
  if (!(soft_weight >= 0.0f) || !std::isfinite(soft_weight))
    throw Error("KD loss: soft-target weight λ must be ≥ 0 and finite, got " + std::to_string(soft_weight));
  return soft_weight;
}

// The checks of each kind of loss over an input {student views, teacher views, labels}. Every
// view count is checked before any value is read.

/// A supervised loss: `count` student views, finite (the teacher's are not read).
template <class Input>
void check_student_views(std::string_view loss, const Input& input, std::size_t count) {
  require_views(loss, "student", input.student, count);
  require_finite(loss, "student", input.student);
}

/// `count` views on each side, finite.
template <class Input>
void check_paired_views(std::string_view loss, const Input& input, std::size_t count) {
  require_views(loss, "student", input.student, count);
  require_views(loss, "teacher", input.teacher, count);
  require_finite(loss, "student", input.student);
  require_finite(loss, "teacher", input.teacher);
}

/// The symmetric two-view losses (BYOL, MoCo-v3), which match student view v with teacher view
/// 1 − v: two finite views on each side, each student view shaped like its teacher view.
template <class Input>
void check_crossed_views(std::string_view loss, const Input& input) {
  check_paired_views(loss, input, 2);
  require_same_shape(loss, input.student[0], "student output view 0", input.teacher[1], "teacher output view 1");
  require_same_shape(loss, input.student[1], "student output view 1", input.teacher[0], "teacher output view 0");
}

}  // namespace loss_checks
}  // namespace tspipe::nn
