#pragma once
// One pipeline stage as a worker executes it: its slice of the student and of the teacher, its
// optimizer, its teacher versions, and what its actions leave for later actions (saved contexts,
// outputs for the loss, gradients waiting for their weight-gradient pass). How parameters are
// viewed and where the stage's work runs come from its backend's hooks (backend_hooks.hpp).
#include <tspipe/nn/layer.hpp>
#include <tspipe/runtime/backend_hooks.hpp>
#include <tspipe/runtime/version_store.hpp>

#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <vector>

namespace tspipe::runtime {

/// (global batch, view, micro-batch): what one slice of work is about.
struct SliceKey {
  long batch = 0;
  int view = 0;
  int micro_batch = 0;
  friend auto operator<=>(const SliceKey&, const SliceKey&) = default;
};

template <class B>
struct Stage {
  using Tensor = typename B::Tensor;
  using Hooks = BackendHooks<B>;
  using Versions = BasicVersionStore<typename Hooks::VersionCopies>;

  int index = 0;
  Hooks hooks;  ///< the backend's per-stage state (a device stage: its stream)
  nn::Sequential<B> student;
  nn::Sequential<B> teacher;
  std::unique_ptr<typename Hooks::Optimizer> optimizer;
  Versions versions;

  // Parameter views, fixed once the stage is built.
  std::vector<typename Hooks::StudentSlot> student_slots;      ///< every student parameter of this stage
  std::vector<typename Hooks::StudentSlot> ema_student_slots;  ///< those with a teacher partner (by name)
  std::vector<typename Hooks::TeacherSlot> teacher_slots;      ///< every teacher parameter of this stage
  std::vector<typename Versions::Param> teacher_values;        ///< the same, for the version store

  // Work in flight within a segment.
  std::map<SliceKey, nn::Context<B>> contexts;     ///< FS → its backward
  std::map<SliceKey, Tensor> weight_grad_inputs;   ///< BI → BW: the output gradient
  std::set<SliceKey> backward_done;                ///< reference halves: first half ran the slice
  std::map<SliceKey, Tensor> student_outputs;      ///< last stage: FS → LOSS
  std::map<SliceKey, Tensor> teacher_outputs;      ///< last stage: FT → LOSS
  std::map<SliceKey, Tensor> loss_gradients;       ///< last stage: LOSS → BS/BI

  /// Collects the parameter views and pairs student with teacher parameters by name.
  void bind_parameters(bool momentum_teacher) {
    student_slots.clear();
    ema_student_slots.clear();
    teacher_slots.clear();
    teacher_values.clear();
    std::set<std::string> teacher_names;
    for (auto& p : teacher.parameters()) {
      teacher_slots.push_back(Hooks::teacher_slot(p));
      teacher_values.push_back(Hooks::version_param(p));
      teacher_names.insert(p.name);
    }
    for (auto& p : student.parameters()) {
      const auto slot = Hooks::student_slot(p);
      student_slots.push_back(slot);
      if (teacher_names.count(p.name)) ema_student_slots.push_back(slot);
    }
    if (momentum_teacher && ema_student_slots.size() != teacher_slots.size()) {
      std::set<std::string> student_names;
      for (const auto& s : ema_student_slots) student_names.insert(s.name);
      for (const auto& t : teacher_slots)
        if (!student_names.count(t.name))
          throw Error("momentum teacher: stage " + std::to_string(index) + " holds teacher parameter '" + t.name +
                      "' but no student parameter of that name (teacher and student must share their cut points "
                      "and parameter names)");
    }
  }

  /// After a segment: the stage's queued work finishes (its results become readable by the
  /// caller) before what it left for later actions is dropped.
  void clear_work() {
    hooks.synchronize();
    contexts.clear();
    weight_grad_inputs.clear();
    backward_done.clear();
    student_outputs.clear();
    teacher_outputs.clear();
    loss_gradients.clear();
  }
};

}  // namespace tspipe::runtime
