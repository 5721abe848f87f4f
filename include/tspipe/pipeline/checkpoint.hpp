#pragma once
// A pipeline's resumable state as safetensors content: student and teacher weights and buffers,
// every teacher version a stage holds, the optimizer state, the step and the learning rate.
#include <tspipe/error.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/runtime/backend_hooks.hpp>
#include <tspipe/runtime/stage.hpp>
#include <tspipe/runtime/tensor_ops.hpp>

#include <charconv>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace tspipe {

/// Where a checkpoint puts a resumed run: the next batch to feed and its learning rate.
struct CheckpointPosition {
  long step = 0;
  double learning_rate = 0.0;
};

/// Reads and writes the checkpoint of a pipeline's local stages.
template <class B>
class PipelineCheckpoint {
 public:
  using Tensor = typename B::Tensor;
  using Ops = runtime::TensorOps<Tensor>;
  using VersionCopies = typename runtime::BackendHooks<B>::VersionCopies;
  using Stages = std::vector<std::unique_ptr<runtime::Stage<B>>>;
  using RunsStage = std::function<bool(int stage)>;

  PipelineCheckpoint(Stages& stages, RunsStage runs_stage) : stages_(stages), runs_stage_(std::move(runs_stage)) {}

  /// The content of this process's stages at `position`.
  nn::SafetensorsContent save(const CheckpointPosition& position) {
    nn::SafetensorsContent content;
    content.metadata["format"] = "tspipe-checkpoint-1";
    content.metadata["step"] = std::to_string(position.step);
    content.metadata["stages"] = std::to_string(stages_.size());
    content.metadata["learning_rate"] = std::to_string(position.learning_rate);
    const auto put = [&](const std::string& name, const Tensor& t) {
      const nn::Tensor host = Ops::to_host(t);
      std::vector<std::uint64_t> shape;
      for (auto d : t.shape()) shape.push_back(static_cast<std::uint64_t>(d));
      content.tensors[name] = nn::StoredTensor::from_f32(shape, host.span());
    };
    const auto put_vector = [&](const std::string& name, const std::vector<float>& values) {
      content.tensors[name] = nn::StoredTensor::from_f32({values.size()}, values);
    };
    for (auto& s : stages_) {
      if (!runs_stage_(s->index)) continue;
      for (auto& p : s->student.parameters()) put("student." + p.name, *p.value);
      for (auto& b : s->student.buffers()) put("student." + b.name, *b.value);
      for (auto& p : s->teacher.parameters()) put("teacher." + p.name, *p.value);
      for (auto& b : s->teacher.buffers()) put("teacher." + b.name, *b.value);
      content.metadata["teacher_active." + std::to_string(s->index)] = std::to_string(s->versions.active());
      for (const auto& [version, values] : s->versions.saved())
        for (std::size_t i = 0; i < values.size(); ++i)
          put_vector("teacher@" + std::to_string(version) + "." + s->teacher_slots[i].name, VersionCopies::to_host(values[i]));
      for (const auto& [key, values] : s->optimizer->export_state()) put_vector("optimizer." + key, values);
    }
    return content;
  }

  /// Restores `content` (read from `path`, named in errors) into this process's stages and
  /// returns where the run continues.
  CheckpointPosition load(const nn::SafetensorsContent& content, const std::string& path) {
    const auto where = "checkpoint '" + path + "': ";
    if (!content.metadata.count("format") || content.metadata.at("format") != "tspipe-checkpoint-1")
      throw Error(where + "not a tspipe checkpoint (metadata 'format' missing or unknown)");
    // Numbers in the metadata and tensor names, each failure naming the field.
    const auto number = [&](const std::string& text, const std::string& field) {
      long value = 0;
      const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
      if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < 0)
        throw Error(where + field + " '" + text + "' is not a non-negative integer");
      return value;
    };
    const auto metadata = [&](const std::string& key) -> const std::string& {
      const auto it = content.metadata.find(key);
      if (it == content.metadata.end()) throw Error(where + "metadata '" + key + "' is missing");
      return it->second;
    };
    const auto take = [&](const std::string& name, Tensor& into) {
      const auto it = content.tensors.find(name);
      if (it == content.tensors.end()) throw Error(where + "has no tensor '" + name + "'");
      const auto values = it->second.to_f32();
      if (static_cast<long>(values.size()) != static_cast<long>(into.numel()))
        throw Error(where + "'" + name + "' has " + std::to_string(values.size()) + " values, the model " +
                    std::to_string(into.numel()));
      Ops::copy_from_host(into, values);
    };
    for (auto& s : stages_) {
      if (!runs_stage_(s->index)) continue;
      for (auto& p : s->student.parameters()) take("student." + p.name, *p.value);
      for (auto& b : s->student.buffers()) take("student." + b.name, *b.value);
      for (auto& p : s->teacher.parameters()) take("teacher." + p.name, *p.value);
      for (auto& b : s->teacher.buffers()) take("teacher." + b.name, *b.value);
      const std::string active_key = "teacher_active." + std::to_string(s->index);
      const long active = number(metadata(active_key), "metadata " + active_key);
      std::map<long, typename runtime::Stage<B>::Versions::Values> saved;
      const std::string prefix = "teacher@";
      for (const auto& [name, stored] : content.tensors) {
        if (name.rfind(prefix, 0) != 0) continue;
        const auto dot = name.find('.');
        if (dot == std::string::npos) throw Error(where + "tensor name '" + name + "' lacks the parameter after the version");
        const long version = number(name.substr(prefix.size(), dot - prefix.size()), "teacher version in '" + name + "'");
        const std::string param = name.substr(dot + 1);
        for (std::size_t i = 0; i < s->teacher_slots.size(); ++i)
          if (s->teacher_slots[i].name == param) {
            auto& values = saved[version];
            values.resize(s->teacher_slots.size());
            values[i] = VersionCopies::from_host(stored.to_f32(), s->teacher_values[i]);
          }
      }
      s->versions.restore(active, std::move(saved));
      nn::OptimizerState state;
      for (const auto& [name, stored] : content.tensors)
        if (name.rfind("optimizer.", 0) == 0) {
          const std::string key = name.substr(10);
          for (const auto& slot : s->student_slots)
            if (key.rfind(slot.name + "/", 0) == 0) state[key] = stored.to_f32();
        }
      s->optimizer->import_state(std::move(state));
    }
    CheckpointPosition position;
    position.step = number(metadata("step"), "metadata step");
    const std::string& lr_text = metadata("learning_rate");
    const auto [lr_end, lr_ec] = std::from_chars(lr_text.data(), lr_text.data() + lr_text.size(), position.learning_rate);
    if (lr_ec != std::errc{} || lr_end != lr_text.data() + lr_text.size() || !(position.learning_rate >= 0.0))
      throw Error(where + "metadata learning_rate '" + lr_text + "' is not a non-negative number");
    return position;
  }

 private:
  Stages& stages_;
  RunsStage runs_stage_;
};

}  // namespace tspipe
