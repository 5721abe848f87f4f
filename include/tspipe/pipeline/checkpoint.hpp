#pragma once
// A pipeline's resumable state as safetensors content: student and teacher weights and buffers,
// every teacher version a stage holds, the optimizer state, the step and the learning rate.
//
// Loading checks all of the content against the pipeline before it copies anything: every tensor
// by name, dtype and full shape, every teacher version complete (each parameter of the stage
// present), the optimizer state exactly as the stage's optimizer keeps it. Every problem is named
// in one error, and a refused checkpoint leaves the pipeline as it was.
#include <tspipe/error.hpp>
#include <tspipe/nn/optim.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/nn/weights.hpp>
#include <tspipe/pipeline/backend_types.hpp>
#include <tspipe/pipeline/metadata_text.hpp>
#include <tspipe/runtime/backend_hooks.hpp>
#include <tspipe/runtime/stage.hpp>
#include <tspipe/runtime/tensor_ops.hpp>

#include <cstddef>
#include <functional>
#include <map>
#include <string_view>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tspipe {

/// Where a checkpoint puts a resumed run: the next batch to feed and its learning rate.
struct CheckpointPosition {
  long step = 0;
  double learning_rate = 0.0;
};

/// Reads and writes the checkpoint of a pipeline's local stages.
template <class B>
class PipelineCheckpoint : public BackendTypes<B> {
 public:
  using typename BackendTypes<B>::Tensor, typename BackendTypes<B>::Ops, typename BackendTypes<B>::Hooks;
  using typename BackendTypes<B>::Stage, typename BackendTypes<B>::Stages, typename BackendTypes<B>::OptimizerFactory;
  using VersionCopies = typename Hooks::VersionCopies;
  using RunsStage = std::function<bool(int stage)>;

  /// `make_optimizer` makes an optimizer like the stages' (what their state is checked against).
  PipelineCheckpoint(Stages& stages, RunsStage runs_stage, OptimizerFactory make_optimizer)
      : stages_(stages), runs_stage_(std::move(runs_stage)), make_optimizer_(std::move(make_optimizer)) {}

  /// The content of this process's stages at `position`.
  nn::SafetensorsContent save(const CheckpointPosition& position) {
    nn::SafetensorsContent content;
    content.metadata["format"] = "tspipe-checkpoint-1";
    content.metadata["step"] = std::to_string(position.step);
    content.metadata["stages"] = std::to_string(stages_.size());
    content.metadata["learning_rate"] = exact_text(position.learning_rate, "the learning rate");
    const auto put = [&](const std::string& name, const Tensor& t) {
      const nn::Tensor host = Ops::to_host(t);
      content.tensors[name] = nn::StoredTensor::from_f32(nn::stored_shape(t.shape()), host.span());
    };
    for (auto& s : stages_) {
      if (!runs_stage_(s->index)) continue;
      for (auto& p : s->student.parameters()) put("student." + p.name, *p.value);
      for (auto& b : s->student.buffers()) put("student." + b.name, *b.value);
      auto teacher = s->teacher.parameters();  // in the order of teacher_slots
      for (auto& p : teacher) put("teacher." + p.name, *p.value);
      for (auto& b : s->teacher.buffers()) put("teacher." + b.name, *b.value);
      content.metadata["teacher_active." + std::to_string(s->index)] = std::to_string(s->versions.active());
      for (const auto& [version, values] : s->versions.saved())
        for (std::size_t i = 0; i < values.size(); ++i)
          content.tensors["teacher@" + std::to_string(version) + "." + teacher[i].name] =
              nn::StoredTensor::from_f32(nn::stored_shape(teacher[i].value->shape()), VersionCopies::to_host(values[i]));
      for (const auto& [key, values] : s->optimizer->export_state())
        content.tensors["optimizer." + key] = nn::StoredTensor::from_f32({values.size()}, values);
    }
    return content;
  }

  /// What load copies into one stage, each piece checked against it.
  struct StageRestore {
    Stage* stage = nullptr;
    std::vector<std::pair<Tensor*, const nn::StoredTensor*>> tensors;
    long active = 0;
    std::map<long, std::vector<const nn::StoredTensor*>> versions;  ///< per version, one per teacher slot
    std::map<std::string, const nn::StoredTensor*> optimizer;
  };
  /// A checkpoint found to fit, ready to copy (it points into the content it was checked from).
  struct Restore {
    std::vector<StageRestore> stages;
    CheckpointPosition position;
  };

  /// Checks `content` (read from `path`, named in errors) against this process's stages. Throws
  /// Error naming a bad metadata field, or every tensor that is missing, extra, of another shape
  /// or dtype, or an incomplete teacher version or optimizer state. Changes nothing.
  Restore check(const nn::SafetensorsContent& content, const std::string& path) {
    const auto where = "checkpoint '" + path + "': ";
    const auto metadata = [&](const std::string& key) -> const std::string& {
      const auto it = content.metadata.find(key);
      if (it == content.metadata.end()) throw Error(where + "metadata '" + key + "' is missing");
      return it->second;
    };
    if (!content.metadata.count("format") || content.metadata.at("format") != "tspipe-checkpoint-1")
      throw Error(where + "not a tspipe checkpoint (metadata 'format' missing or unknown)");
    Restore restore;
    restore.position.step = read_count(metadata("step"), where + "metadata step");
    restore.position.learning_rate = read_finite(metadata("learning_rate"), where + "metadata learning_rate");

    // Which stage each name belongs to, over every stage: a process of a distributed launch holds
    // every stage's layers, and the tensors of the stages it does not run are not extra.
    std::map<std::string, std::size_t> student_owner, teacher_owner, layer_owner;
    for (std::size_t s = 0; s < stages_.size(); ++s) {
      for (auto& p : stages_[s]->student.parameters()) student_owner[p.name] = layer_owner["student." + p.name] = s;
      for (auto& b : stages_[s]->student.buffers()) layer_owner["student." + b.name] = s;
      for (auto& p : stages_[s]->teacher.parameters()) teacher_owner[p.name] = layer_owner["teacher." + p.name] = s;
      for (auto& b : stages_[s]->teacher.buffers()) layer_owner["teacher." + b.name] = s;
    }
    nn::TensorFit fit;
    std::vector<StageRestore*> restore_of(stages_.size(), nullptr);
    std::vector<std::map<std::string, std::size_t>> optimizer_layouts(stages_.size());
    restore.stages.reserve(stages_.size());
    for (std::size_t s = 0; s < stages_.size(); ++s) {
      Stage& stage = *stages_[s];
      if (!runs_stage_(stage.index)) continue;
      StageRestore& r = restore.stages.emplace_back();
      restore_of[s] = &r;
      r.stage = &stage;
      const std::string active_key = "teacher_active." + std::to_string(stage.index);
      r.active = read_count(metadata(active_key), where + "metadata " + active_key);
      const auto expect = [&](const std::string& name, Tensor& value) {
        if (const nn::StoredTensor* stored = fit.require(content, name, nn::stored_shape(value.shape())))
          r.tensors.emplace_back(&value, stored);
      };
      for (auto& p : stage.student.parameters()) expect("student." + p.name, *p.value);
      for (auto& b : stage.student.buffers()) expect("student." + b.name, *b.value);
      for (auto& p : stage.teacher.parameters()) expect("teacher." + p.name, *p.value);
      for (auto& b : stage.teacher.buffers()) expect("teacher." + b.name, *b.value);
      optimizer_layouts[s] = optimizer_layout(stage);
    }

    for (const auto& [name, stored] : content.tensors) {
      if (name.rfind("teacher@", 0) == 0) {
        check_version(name, stored, teacher_owner, restore_of, fit);
      } else if (name.rfind("optimizer.", 0) == 0) {
        const std::string key = name.substr(10);
        const auto owner = student_owner.find(key.substr(0, key.rfind('/')));
        if (owner == student_owner.end()) {
          fit.unexpected(name, stored, "optimizer state of no student parameter");
          continue;
        }
        StageRestore* r = restore_of[owner->second];
        if (!r) continue;  // another process's stage
        const auto& layout = optimizer_layouts[owner->second];
        const auto kept = layout.find(key);
        if (kept == layout.end()) fit.unexpected(name, stored, "state this stage's optimizer does not keep");
        else if (fit.check(name, stored, {kept->second})) {
          if (const std::string why = nn::state_value_problem(nn::state_kind(key), stored.to_f32());
              !why.empty())
            fit.note(name, why);
          else
            r->optimizer[key] = &stored;
        }
      } else if (!layer_owner.count(name)) {
        fit.unexpected(name, stored);
      }
    }

    for (std::size_t s = 0; s < stages_.size(); ++s) {
      StageRestore* r = restore_of[s];
      if (!r) continue;
      auto teacher = r->stage->teacher.parameters();
      for (const auto& [version, values] : r->versions)
        for (std::size_t i = 0; i < values.size(); ++i) {
          const std::string name = "teacher@" + std::to_string(version) + "." + teacher[i].name;
          if (!values[i] && !content.tensors.count(name)) fit.missing(name, nn::stored_shape(teacher[i].value->shape()));
        }
      if (static_cast<int>(r->versions.size()) > r->stage->versions.capacity())
        fit.note("teacher@… of stage " + std::to_string(r->stage->index),
                 std::to_string(r->versions.size()) + " teacher versions, but the stage keeps at most " +
                     std::to_string(r->stage->versions.capacity()) + " (staleness + 1)");
      if (!r->optimizer.empty())  // a checkpoint before the first step holds no optimizer state
        for (const auto& [key, size] : optimizer_layouts[s])
          if (!content.tensors.count("optimizer." + key)) fit.missing("optimizer." + key, {size});
    }
    fit.throw_unless_fits(where + "does not fit this pipeline");
    return restore;
  }

  /// Copies a checkpoint that check() accepted into the stages.
  void apply(const Restore& restore) {
    for (const StageRestore& r : restore.stages) {
      Stage& stage = *r.stage;
      for (const auto& [value, stored] : r.tensors) Ops::copy_from_host(*value, stored->to_f32());
      std::map<long, typename Stage::Versions::Values> saved;
      for (const auto& [version, values] : r.versions)
        for (std::size_t i = 0; i < values.size(); ++i)
          saved[version].push_back(VersionCopies::from_host(values[i]->to_f32(), stage.teacher_values[i]));
      stage.versions.restore(r.active, std::move(saved));
      nn::OptimizerState state;
      for (const auto& [key, stored] : r.optimizer) state[key] = stored->to_f32();
      stage.optimizer->import_state(std::move(state));
    }
  }

 private:
  /// A teacher version tensor "teacher@<version>.<parameter>": the parameter's shape, noted
  /// under its stage's versions when that stage runs here.
  void check_version(const std::string& name, const nn::StoredTensor& stored, const std::map<std::string, std::size_t>& teacher_owner,
                     const std::vector<StageRestore*>& restore_of, nn::TensorFit& fit) {
    const std::size_t dot = name.find('.');
    const auto owner = dot == std::string::npos ? teacher_owner.end() : teacher_owner.find(name.substr(dot + 1));
    if (owner == teacher_owner.end()) {
      fit.unexpected(name, stored, "a version of no teacher parameter");
      return;
    }
    long version = 0;
    try {
      version = read_count(name.substr(8, dot - 8), "its version");
    } catch (const Error& e) {
      fit.note(name, e.what());
      return;
    }
    StageRestore* r = restore_of[owner->second];
    if (!r) return;  // another process's stage
    auto teacher = r->stage->teacher.parameters();
    auto& values = r->versions[version];  // noted even when this tensor does not fit: the version is there
    values.resize(teacher.size(), nullptr);
    for (std::size_t i = 0; i < teacher.size(); ++i)
      if (teacher[i].name == owner->first && fit.check(name, stored, nn::stored_shape(teacher[i].value->shape()))) values[i] = &stored;
  }

  /// The optimizer state a stage's checkpoint must hold, by key and size: what a fresh optimizer
  /// keeps after one step over scratch copies of the stage's student parameters.
  std::map<std::string, std::size_t> optimizer_layout(Stage& stage) {
    auto probe = make_optimizer_ ? make_optimizer_() : nullptr;
    if (!probe) throw Error("checkpoint: no optimizer to check the optimizer state against");
    auto params = stage.student.parameters();
    std::vector<Tensor> values, grads;
    values.reserve(params.size());
    grads.reserve(params.size());
    [[maybe_unused]] const auto scope = stage.hooks.enter();
    std::vector<nn::Parameter<B>> scratch;
    for (auto& p : params) {
      values.push_back(Ops::filled_like(*p.value, 1.0f));
      grads.push_back(Ops::filled_like(*p.grad, 0.0f));
      scratch.push_back({p.name, &values.back(), &grads.back(), p.no_weight_decay});
    }
    std::vector<typename Hooks::StudentSlot> slots;
    for (auto& p : scratch) slots.push_back(Hooks::student_slot(p));
    probe->step(slots);
    stage.hooks.synchronize();
    std::map<std::string, std::size_t> layout;
    for (const auto& [key, state] : probe->export_state()) layout[key] = state.size();
    return layout;
  }

  Stages& stages_;
  RunsStage runs_stage_;
  OptimizerFactory make_optimizer_;
};

}  // namespace tspipe
