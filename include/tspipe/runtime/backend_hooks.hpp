#pragma once
// What the runtime asks of a backend beyond its layers and TensorOps: the loss and optimizer types
// a Pipeline takes, how a stage's parameters are seen by its optimizer, its momentum-teacher update
// and its teacher version store, how a batch's loss is computed, and where a stage's work runs.
//
// The runtime (Stage, Pipeline) is written once against this interface. The primary template is
// the host implementation, for backends whose tensors live in host memory (nn::Tensor: the CPU
// backend); it is exactly what the runtime did before backends could supply these. A device
// backend specialises BackendHooks for itself in its own directory — cuda::Backend in
// <tspipe/cuda/pipeline.hpp> — so include/tspipe never includes a device header.
//
// Each stage owns one BackendHooks object (a device backend keeps per-stage state in it: the
// stage's stream, cached update tables); the host one holds nothing.
#include <tspipe/error.hpp>
#include <tspipe/nn/layer.hpp>
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/runtime/tensor_ops.hpp>
#include <tspipe/runtime/transport.hpp>
#include <tspipe/runtime/version_store.hpp>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tspipe::runtime {

/// A batch's loss as the runtime uses it: the scalar and d(loss)/d(student output) of each view
/// over the rows it was given, the whole batch or one micro-batch's (same shapes as the student
/// outputs). No gradients when the loss is not finite: the runtime reports that batch instead of
/// training on it.
template <class Tensor>
struct BatchLoss {
  double loss = 0.0;
  std::vector<Tensor> d_student;
};

/// Checks that a loss returned one gradient per view of the batch.
inline void require_gradient_views(std::string_view loss, std::size_t gradients, std::size_t views) {
  if (gradients != views)
    throw Error(std::string(loss) + " returned gradients for " + std::to_string(gradients) + " views, the batch has " +
                std::to_string(views));
}

/// A host loss over whole-batch host outputs (one tensor per view, rows = samples).
inline BatchLoss<nn::Tensor> host_batch_loss(const nn::Loss& loss, const std::vector<nn::Tensor>& student,
                                             const std::vector<nn::Tensor>& teacher, std::span<const int> labels) {
  const auto as_matrix = [](const nn::Tensor& t) {
    const long rows = TensorOps<nn::Tensor>::rows(t);
    return nn::MatrixView{t.data(), static_cast<int>(rows), static_cast<int>(t.numel() / std::max(1L, rows))};
  };
  nn::LossInput input;
  for (const nn::Tensor& s : student) input.student.push_back(as_matrix(s));
  for (const nn::Tensor& t : teacher) input.teacher.push_back(as_matrix(t));
  input.labels = labels;
  const nn::LossOutput out = loss.compute(input);
  BatchLoss<nn::Tensor> result{out.loss, {}};
  if (!std::isfinite(out.loss)) return result;
  require_gradient_views(loss.name(), out.d_student.size(), student.size());
  for (std::size_t v = 0; v < student.size(); ++v) {
    if (static_cast<long>(out.d_student[v].size()) != student[v].numel())
      throw Error(std::string(loss.name()) + " returned " + std::to_string(out.d_student[v].size()) +
                  " gradient values for view " + std::to_string(v) + ", whose output has " +
                  std::to_string(student[v].numel()));
    result.d_student.push_back(TensorOps<nn::Tensor>::from_rows(student[v].shape(), out.d_student[v].data()));
  }
  return result;
}

template <class B>
class BackendHooks {
  static_assert(std::is_same_v<typename B::Tensor, nn::Tensor>,
                "runtime::BackendHooks: this backend's tensors are not host tensors and it has no specialisation in "
                "scope (for cuda::Backend include <tspipe/cuda/pipeline.hpp>)");

 public:
  using Tensor = nn::Tensor;
  using Loss = nn::Loss;            ///< what Pipeline<B> takes as its loss
  using Optimizer = nn::Optimizer;  ///< what Pipeline<B>'s optimizer factory makes
  using StudentSlot = nn::ParamSlot;
  using TeacherSlot = nn::TeacherSlot;
  using VersionCopies = HostVersionCopies;

  static StudentSlot student_slot(nn::Parameter<B>& p) {
    return {p.name, p.value->span(), p.grad->span(), p.no_weight_decay};
  }
  static TeacherSlot teacher_slot(nn::Parameter<B>& p) { return {p.name, p.value->span()}; }
  static typename VersionCopies::Param version_param(nn::Parameter<B>& p) { return p.value->span(); }

  /// A stage's actions run inside the scope this returns (host: any thread will do).
  struct Scope {};
  Scope enter() const { return {}; }
  /// Returns once the work queued for this stage has finished (host work is done when queued).
  void synchronize() const {}
  /// Returns once the work the calling thread queued has finished, so that stage workers may
  /// read what it wrote (fed batches, restored parameters).
  static void finish_caller_work() {}
  /// The transport between stages that run in this process.
  static std::shared_ptr<Transport<Tensor>> local_transport(int stages, std::size_t capacity_per_stage) {
    return std::make_shared<InProcessTransport<Tensor>>(stages, capacity_per_stage);
  }

  /// ξ ← τ·ξ + (1−τ)·θ over the stage's teacher parameters, paired with `student` by name.
  void momentum_update(const std::vector<TeacherSlot>& teacher, const std::vector<StudentSlot>& student, float tau) {
    nn::momentum_teacher_update(teacher, student, tau);
  }
  /// teacher ← keep·teacher + (1−keep)·student for each (teacher, student) buffer pair, in order.
  void blend_buffers(const std::vector<std::pair<Tensor*, const Tensor*>>& pairs, float keep) {
    for (const auto& [teacher, student] : pairs) {
      const std::span<float> t = teacher->span();
      const std::span<const float> s = student->span();
      for (std::size_t i = 0; i < t.size(); ++i) t[i] = keep * t[i] + (1.0f - keep) * s[i];
    }
  }

  /// The user's loss over a batch, or a micro-batch's rows: student and teacher outputs per view,
  /// labels.
  BatchLoss<Tensor> loss(const Loss& loss, const std::vector<Tensor>& student, const std::vector<Tensor>& teacher,
                         std::span<const int> labels) {
    return host_batch_loss(loss, student, teacher, labels);
  }
};

}  // namespace tspipe::runtime
