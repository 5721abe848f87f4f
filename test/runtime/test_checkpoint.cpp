// Checkpoints of a pipeline: a resumed run plans from the saved plan and cost model and continues
// bit for bit like an uninterrupted one (with and without calibration); a checkpoint that does
// not fit — a transposed, oversized, undersized, missing, extra or wrong-dtype tensor, an
// incomplete teacher version, misshapen optimizer state, a non-finite number in the metadata, a
// flipped bit (checksums), a file without checksums — is refused with every offending name, and
// the pipeline is unchanged after the refusal.
#include <doctest/doctest.h>

#include "common.hpp"

#include <tspipe/nn/weights.hpp>

#include <nlohmann/json.hpp>

#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace test;
using namespace test::small_mlp;
using tspipe::nn::SafetensorsContent;
using tspipe::nn::StoredTensor;

namespace {

constexpr long kBatch = 8;
const std::vector<int64_t> kWidths = student_widths();  // 4 blocks: fc0.weight is [10, 6]

std::filesystem::path scratch(const std::string& name) { return scratch_file("checkpoint", name); }

struct Setup {
  bool ssl = false;        ///< BYOL with a momentum teacher (δ = 1) and AdamW, else KD with SGD
  bool choose = false;     ///< tspipe chooses M and the backward split
  bool calibrate = false;  ///< calibrate_costs
};

PipelineOptions options_for(const Setup& setup) {
  // Fixed cuts: a profiled partition could differ between the pipelines compared.
  PipelineOptions o = mlp_options(2, 2, "tspipe", kBatch, kFeatures);
  o.teacher_cuts = o.student_cuts = {2};
  o.choose_micro_batches = o.choose_split = setup.choose;
  o.calibrate_costs = setup.calibrate;
  if (setup.ssl) {
    o.views = 2;
    o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1);
  }
  return o;
}

Pipeline<B> make_pipeline(const Setup& setup, uint64_t seed = 300) {
  if (setup.ssl)
    return Pipeline<B>(mlp(kWidths, seed + 1), mlp(kWidths, seed), std::make_shared<tspipe::nn::ByolLoss>(),
                       [] { return std::make_unique<tspipe::nn::AdamW>(tspipe::nn::AdamWOptions{.learning_rate = 0.01}); },
                       options_for(setup));
  return Pipeline<B>(mlp(teacher_widths(), seed + 1, "t"), mlp(kWidths, seed),
                     std::make_shared<tspipe::nn::SoftTargetKDLoss>(4.0, 0.5),
                     [] {
                       return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.05, .momentum = 0.9});
                     },
                     options_for(setup));
}

/// Feeds batches [from, to) and returns every loss reported, in batch order.
std::vector<tspipe::LossRecord> train(Pipeline<B>& pipeline, const Setup& setup, int from, int to) {
  const auto batch_at = [&](int step) { return make_batch(kBatch, kFeatures, setup.ssl ? 2 : 1, kClasses, 500 + static_cast<uint64_t>(step)); };
  return train_range(pipeline, from, to, batch_at, !setup.ssl);
}

/// Everything a load could change.
struct State {
  std::map<std::string, std::vector<float>> student, teacher;
  std::vector<std::map<long, std::vector<std::vector<float>>>> versions;
  std::vector<long> active;
  std::vector<tspipe::nn::OptimizerState> optimizer;
  long fed = 0;
  tspipe::schedule::CostModel costs;
  std::string schedule;
  int micro_batches = 0;
  bool choose = false;
};
State state_of(Pipeline<B>& p) {
  State s;
  s.student = values_of(p.student_parameters());
  s.teacher = values_of(p.teacher_parameters());
  for (int j = 0; j < p.stages(); ++j) {
    s.versions.push_back(p.stage(j).versions.saved());
    s.active.push_back(p.stage(j).versions.active());
    s.optimizer.push_back(p.stage(j).optimizer->export_state());
  }
  s.fed = p.batches_fed();
  s.costs = p.profiled_costs();
  s.schedule = p.options().schedule;
  s.micro_batches = p.options().micro_batches;
  s.choose = p.options().choose_micro_batches;
  return s;
}
void check_same_state(const State& a, const State& b) {
  CHECK(a.student == b.student);
  CHECK(a.teacher == b.teacher);
  CHECK(a.versions == b.versions);
  CHECK(a.active == b.active);
  CHECK(a.optimizer == b.optimizer);
  CHECK(a.fed == b.fed);
  CHECK(same_costs(a.costs, b.costs));
  CHECK(a.schedule == b.schedule);
  CHECK(a.micro_batches == b.micro_batches);
  CHECK(a.choose == b.choose);
}

void transpose(StoredTensor& t) {
  REQUIRE(t.shape.size() == 2);
  const std::size_t rows = t.shape[0], cols = t.shape[1];
  const std::vector<float> values = t.to_f32();
  std::vector<float> out(values.size());
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j) out[j * rows + i] = values[i * cols + j];
  t = StoredTensor::from_f32({cols, rows}, out);
}

/// The path of a checkpoint of an SSL pipeline after `steps` batches.
std::filesystem::path saved_checkpoint(const std::string& file, int steps) {
  const Setup setup{.ssl = true};
  const auto path = scratch(file);
  Pipeline<B> source = make_pipeline(setup);
  train(source, setup, 0, steps);
  source.save(path);
  return path;
}

/// Loads `content` (written to a file) into `pipeline`, expects a refusal whose message holds
/// every one of `expected`, and checks that nothing of the pipeline changed.
void check_refused(Pipeline<B>& pipeline, const SafetensorsContent& content, const std::string& file,
                   const std::vector<std::string>& expected) {
  const auto path = scratch(file);
  tspipe::nn::save_safetensors(path, content);
  const State before = state_of(pipeline);
  std::string message;
  try {
    pipeline.load(path);
  } catch (const tspipe::Error& e) {
    message = e.what();
  }
  INFO(message);
  REQUIRE_FALSE(message.empty());
  CHECK(message.find(path.string()) != std::string::npos);
  for (const auto& words : expected) CHECK_MESSAGE(message.find(words) != std::string::npos, words);
  check_same_state(before, state_of(pipeline));
}

/// What a refusal test loads a checkpoint into: an SSL pipeline that trained elsewhere (other
/// weights, two batches), so that any tensor it took from a checkpoint would change it.
struct TrainedElsewhere {
  const Setup setup{.ssl = true};
  Pipeline<B> target = make_pipeline(setup, 900);
  TrainedElsewhere() { train(target, setup, 0, 2); }
};

}  // namespace

TEST_CASE("resume: the plan and cost model come back with the checkpoint; every later loss and the weights are bit-identical") {
  for (const bool ssl : {false, true}) {
    CAPTURE(ssl);
    const Setup setup{.ssl = ssl, .choose = true};
    constexpr int kSaveAt = 4, kEnd = 10;  // the checkpoint at a segment boundary: same segments as one run
    Pipeline<B> uninterrupted = make_pipeline(setup);
    const auto costs = uninterrupted.profiled_costs();
    uninterrupted.set_learning_rate(0.0123456789012345678);  // more digits than std::to_string keeps
    const auto all = train(uninterrupted, setup, 0, kEnd);
    // Without calibration the plan never moves from the cost model it started with.
    CHECK(same_costs(uninterrupted.profiled_costs(), costs));

    const auto path = scratch(ssl ? "resume_ssl.safetensors" : "resume_kd.safetensors");
    {
      Pipeline<B> first = make_pipeline(setup);
      first.set_profiled_costs(costs);  // one plan for both runs: profiles differ from run to run
      first.set_learning_rate(0.0123456789012345678);
      train(first, setup, 0, kSaveAt);
      first.save(path);
    }
    // The resumed pipeline profiles anew; plan it with costs that would choose another M, so that
    // only a restored cost model gives back the same schedules.
    Pipeline<B> resumed = make_pipeline(setup);
    auto distorted = costs;
    distorted.per_action_overhead = 100.0 * (costs.stages[0].student_forward + costs.stages[0].student_backward);
    resumed.set_profiled_costs(distorted);
    const auto planned = [&](const tspipe::schedule::CostModel& c) {
      auto w = resumed.workload(2);
      w.costs = c;
      return tspipe::planning::generate("tspipe", w).value().workload.micro_batches;
    };
    REQUIRE(planned(distorted) != planned(costs));
    resumed.load(path);
    CHECK(same_costs(resumed.profiled_costs(), costs));
    CHECK(resumed.batches_fed() == kSaveAt);
    CHECK(tspipe::nn::load_safetensors(path).metadata.at("learning_rate") == "0.012345678901234568");
    const auto later = train(resumed, setup, kSaveAt, kEnd);
    REQUIRE(later.size() == static_cast<std::size_t>(kEnd - kSaveAt));
    for (std::size_t i = 0; i < later.size(); ++i) {
      CHECK(later[i].batch == all[kSaveAt + i].batch);
      CHECK(later[i].loss == all[kSaveAt + i].loss);
    }
    CHECK(values_of(resumed.student_parameters()) == values_of(uninterrupted.student_parameters()));
    CHECK(values_of(resumed.teacher_parameters()) == values_of(uninterrupted.teacher_parameters()));
    CHECK(resumed.teacher_versions_held() == uninterrupted.teacher_versions_held());
  }
}

TEST_CASE("resume with calibrate_costs: the calibrated cost model comes back, later losses and weights are bit-identical") {
  // M and the split stay fixed (calibration may reorder a schedule, not change M here): with two
  // micro-batches a gradient is one sum of two parts, whatever order they arrive in.
  const Setup setup{.calibrate = true};
  constexpr int kSaveAt = 6, kEnd = 12;
  Pipeline<B> uninterrupted = make_pipeline(setup);
  const auto all = train(uninterrupted, setup, 0, kEnd);
  CHECK(uninterrupted.profiled_costs().per_action_overhead == uninterrupted.timing_report().mean_action_overhead);

  const auto path = scratch("resume_calibrated.safetensors");
  tspipe::schedule::CostModel saved_costs;
  {
    Pipeline<B> first = make_pipeline(setup);
    train(first, setup, 0, kSaveAt);
    saved_costs = first.profiled_costs();
    first.save(path);
  }
  Pipeline<B> resumed = make_pipeline(setup);
  resumed.load(path);
  CHECK(same_costs(resumed.profiled_costs(), saved_costs));
  CHECK(resumed.options().calibrate_costs);
  const auto later = train(resumed, setup, kSaveAt, kEnd);
  REQUIRE(later.size() == static_cast<std::size_t>(kEnd - kSaveAt));
  for (std::size_t i = 0; i < later.size(); ++i) CHECK(later[i].loss == all[kSaveAt + i].loss);
  CHECK(values_of(resumed.student_parameters()) == values_of(uninterrupted.student_parameters()));
  CHECK(values_of(resumed.teacher_parameters()) == values_of(uninterrupted.teacher_parameters()));
}

TEST_CASE_FIXTURE(TrainedElsewhere, "a checkpoint with one tensor transposed is refused by name with both shapes; the pipeline is unchanged") {
  const auto path = saved_checkpoint("source.safetensors", 4);
  SafetensorsContent content = tspipe::nn::load_safetensors(path);
  transpose(content.tensors.at("student.fc0.weight"));
  check_refused(target, content, "transposed.safetensors",
                {"1 tensor does not fit", "'student.fc0.weight': the file has F32 [6, 10], the model F32 [10, 6]"});
  // The same file without the damage loads and changes the pipeline.
  CHECK_NOTHROW(target.load(path));
  CHECK(target.batches_fed() == 4);
}

TEST_CASE_FIXTURE(TrainedElsewhere, "teacher versions: oversized, undersized, incomplete or unknown versions are refused by name; nothing is loaded") {
  const auto path = saved_checkpoint("versions.safetensors", 3);
  const SafetensorsContent good = tspipe::nn::load_safetensors(path);
  std::string version_name;  // a version tensor of fc1.weight, [10, 10]
  for (const auto& [name, tensor] : good.tensors)
    if (name.rfind("teacher@", 0) == 0 && name.find(".fc1.weight") != std::string::npos) version_name = name;
  REQUIRE_FALSE(version_name.empty());
  CHECK(good.tensors.at(version_name).shape == std::vector<std::uint64_t>{10, 10});  // the parameter's full shape
  const std::string version = version_name.substr(0, version_name.find('.'));

  SafetensorsContent oversized = good;
  oversized.tensors[version_name] = StoredTensor::from_f32({11, 10}, std::vector<float>(110, 1.0f));
  check_refused(target, oversized, "oversized.safetensors", {"'" + version_name + "': the file has F32 [11, 10], the model F32 [10, 10]"});

  SafetensorsContent undersized = good;
  undersized.tensors[version_name] = StoredTensor::from_f32({99}, std::vector<float>(99, 1.0f));
  check_refused(target, undersized, "undersized.safetensors", {"'" + version_name + "': the file has F32 [99], the model F32 [10, 10]"});

  SafetensorsContent incomplete = good;
  incomplete.tensors.erase(version_name);
  check_refused(target, incomplete, "incomplete.safetensors", {"'" + version_name + "': missing from the file (the model has F32 [10, 10])"});

  SafetensorsContent unknown = good;
  unknown.tensors[version + ".fc9.weight"] = StoredTensor::from_f32({2}, std::vector<float>(2, 1.0f));
  check_refused(target, unknown, "unknown_version.safetensors",
                {"'" + version + ".fc9.weight': the file has F32 [2] but the model has no such tensor (a version of no teacher parameter)"});

  SafetensorsContent too_many = good;  // δ = 1: a stage holds two versions at most
  for (const auto& [name, tensor] : good.tensors)
    if (name.rfind(version + ".", 0) == 0)
      for (const char* v : {"teacher@90", "teacher@91", "teacher@92"}) too_many.tensors[v + name.substr(version.size())] = tensor;
  check_refused(target, too_many, "too_many_versions.safetensors", {"teacher versions, but the stage keeps at most 2 (staleness + 1)"});
}

TEST_CASE_FIXTURE(TrainedElsewhere, "missing, extra, wrong-dtype and misshapen optimizer tensors are all named in one error; nothing is loaded") {
  const auto path = saved_checkpoint("several.safetensors", 3);
  SafetensorsContent content = tspipe::nn::load_safetensors(path);
  content.tensors.erase("teacher.fc2.bias");
  content.tensors["student.fc7.weight"] = StoredTensor::from_f32({3}, std::vector<float>(3, 0.0f));
  StoredTensor as_f64;
  as_f64.dtype = tspipe::nn::Dtype::F64;
  as_f64.shape = {10};
  as_f64.data.resize(80);
  content.tensors["student.fc0.bias"] = as_f64;
  content.tensors["optimizer.fc1.weight/exp_avg"] = StoredTensor::from_f32({99}, std::vector<float>(99, 0.0f));
  content.tensors["optimizer.fc1.weight/velocity"] = StoredTensor::from_f32({100}, std::vector<float>(100, 0.0f));
  check_refused(target, content, "several.safetensors",
                {"5 tensors do not fit", "'teacher.fc2.bias': missing from the file (the model has F32 [8])",
                 "'student.fc7.weight': the file has F32 [3] but the model has no such tensor",
                 "'student.fc0.bias': the file has F64 [10], the model F32 [10]",
                 "'optimizer.fc1.weight/exp_avg': the file has F32 [99], the model F32 [100]",
                 "'optimizer.fc1.weight/velocity': the file has F32 [100] but the model has no such tensor (state this stage's "
                 "optimizer does not keep)"});

  // Optimizer state of a stage is all there or not at all (a checkpoint before the first step).
  SafetensorsContent partial = tspipe::nn::load_safetensors(path);
  partial.tensors.erase("optimizer.fc0.weight/step");
  check_refused(target, partial, "partial_optimizer.safetensors", {"'optimizer.fc0.weight/step': missing from the file (the model has F32 [1])"});
}

TEST_CASE_FIXTURE(TrainedElsewhere, "checkpoint metadata: non-finite or malformed numbers are refused by name; the pipeline is unchanged") {
  const auto path = saved_checkpoint("metadata.safetensors", 2);
  const SafetensorsContent good = tspipe::nn::load_safetensors(path);
  const auto with = [&](const std::string& key, const std::string& value) {
    SafetensorsContent c = good;
    c.metadata[key] = value;
    return c;
  };
  check_refused(target, with("learning_rate", "inf"), "lr_inf.safetensors", {"metadata learning_rate 'inf' is not a finite number ≥ 0"});
  check_refused(target, with("learning_rate", "nan"), "lr_nan.safetensors", {"metadata learning_rate 'nan' is not a finite number ≥ 0"});
  check_refused(target, with("costs.1.teacher_forward", "1e999"), "cost_overflow.safetensors",
                {"metadata costs.1.teacher_forward '1e999' is not a finite number ≥ 0"});
  check_refused(target, with("costs.0.backward_input_share", "1.5"), "share.safetensors", {"backward_input_share = 1.5", "need a value in [0, 1]"});
  check_refused(target, with("plan.schedule", "fastest"), "schedule.safetensors", {"metadata plan.schedule 'fastest' is not a known schedule"});
  check_refused(target, with("plan.micro_batches", "9"), "micro_batches.safetensors",
                {"plan.micro_batches = 9 is larger than this pipeline's batch (8 samples)"});
  SafetensorsContent no_split = good;
  no_split.metadata.erase("plan.split");
  check_refused(target, no_split, "no_split.safetensors", {"metadata 'plan.split' is missing"});

  // Numbers are written to read back exactly.
  for (const auto& [key, text] : good.metadata)
    if (key.rfind("costs.", 0) == 0) {
      char shortest[64];
      const double value = std::stod(text);
      const auto end = std::to_chars(shortest, shortest + sizeof shortest, value).ptr;
      CHECK(std::string(shortest, end) == text);
    }
}

TEST_CASE("a checkpoint from another partition loads with this pipeline's own cost model; the plan options come back") {
  const auto path = scratch("partition.safetensors");
  Setup setup{.ssl = true};
  {
    Pipeline<B> source = make_pipeline(setup);
    train(source, setup, 0, 2);
    source.save(path);
  }
  SafetensorsContent content = tspipe::nn::load_safetensors(path);
  content.metadata["plan.schedule"] = "gpipe";
  tspipe::nn::save_safetensors(path, content);
  PipelineOptions o = options_for(setup);
  o.teacher_cuts = o.student_cuts = {1};
  Pipeline<B> other(mlp(kWidths, 301), mlp(kWidths, 300), std::make_shared<tspipe::nn::ByolLoss>(),
                    [] { return std::make_unique<tspipe::nn::AdamW>(tspipe::nn::AdamWOptions{.learning_rate = 0.01}); }, o);
  const auto own = other.profiled_costs();
  other.load(path);
  CHECK(same_costs(other.profiled_costs(), own));
  CHECK(other.options().schedule == "gpipe");
}

TEST_CASE("nn::load_weights reads one model out of a pipeline checkpoint by prefix") {
  const Setup setup{.ssl = true};
  const auto path = scratch("by_prefix.safetensors");
  Pipeline<B> source = make_pipeline(setup);
  train(source, setup, 0, 3);
  source.save(path);
  Blocks student = mlp(kWidths, 77);
  tspipe::nn::load_weights(student, path, {.prefix = "student."});
  std::vector<tspipe::nn::Parameter<B>> loaded;
  for (auto& block : student)
    for (auto& p : block->parameters()) loaded.push_back(p);
  CHECK(values_of(loaded) == values_of(source.student_parameters()));
}

TEST_CASE_FIXTURE(TrainedElsewhere, "a flipped bit anywhere in a checkpoint's weights, or a file without checksums, is refused; the pipeline is unchanged") {
  const auto path = saved_checkpoint("flipped.safetensors", 3);
  const State before = state_of(target);
  const auto refusal = [&](const std::filesystem::path& file) {
    try {
      target.load(file);
    } catch (const tspipe::Error& e) {
      return std::string(e.what());
    }
    return std::string("(loaded)");
  };

  // One bit of the last float of the data section: the tensor laid out last, whichever it is.
  std::vector<char> bytes;
  {
    std::ifstream in(path, std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() - 2] ^= 0x10;
  const auto flipped = scratch("flipped_bit.safetensors");
  std::ofstream(flipped, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  const std::string message = refusal(flipped);
  INFO(message);
  CHECK(message.find(flipped.string()) != std::string::npos);
  CHECK(message.find("fails its CRC-32 check") != std::string::npos);
  CHECK(message.find("the file is damaged") != std::string::npos);
  check_same_state(before, state_of(target));

  // The same content without its checksums, as another tool would write it: refused too.
  const auto bare = scratch("bare.safetensors");
  {
    const auto image = tspipe::nn::serialize_safetensors(tspipe::nn::load_safetensors(path));
    std::uint64_t length = 0;
    std::memcpy(&length, image.data(), 8);
    auto header = nlohmann::json::parse(std::string(reinterpret_cast<const char*>(image.data()) + 8, length));
    header["__metadata__"].erase(std::string(tspipe::nn::kChecksumsKey));
    const std::string text = header.dump();
    const std::uint64_t text_length = text.size();
    std::ofstream out(bare, std::ios::binary);
    out.write(reinterpret_cast<const char*>(&text_length), 8);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
    out.write(reinterpret_cast<const char*>(image.data()) + 8 + length,
              static_cast<std::streamsize>(image.size() - 8 - length));
  }
  CHECK(refusal(bare).find("has no checksums (metadata 'tspipe.crc32')") != std::string::npos);
  check_same_state(before, state_of(target));
  CHECK_NOTHROW(target.load(path));  // the undamaged file still loads
}

TEST_CASE_FIXTURE(TrainedElsewhere, "optimizer state no optimizer could hold (a step of 1.9e31, a negative second moment) is refused by name; nothing is loaded") {
  // Found by fuzz_checkpoint: a finite but huge AdamW step reached a float-to-long conversion.
  const auto path = saved_checkpoint("state_values.safetensors", 3);
  SafetensorsContent content = tspipe::nn::load_safetensors(path);
  content.tensors["optimizer.fc0.weight/step"] = StoredTensor::from_f32({1}, std::vector<float>{1.9e31f});
  content.tensors["optimizer.fc1.bias/step"] = StoredTensor::from_f32({1}, std::vector<float>{2.5f});
  auto second = content.tensors.at("optimizer.fc1.weight/exp_avg_sq").to_f32();
  second[3] = -1.0f;
  content.tensors["optimizer.fc1.weight/exp_avg_sq"] = StoredTensor::from_f32({second.size()}, second);
  check_refused(target, content, "state_values.safetensors",
                {"3 tensors do not fit", "'optimizer.fc0.weight/step': holds 1.9e+31, not a step count (a whole number from 0 to 16777216)",
                 "'optimizer.fc1.bias/step': holds 2.5, not a step count",
                 "'optimizer.fc1.weight/exp_avg_sq': holds -1, but a second moment is never negative"});
  // An optimizer refuses such state itself too.
  tspipe::nn::AdamW adamw({});
  CHECK_THROWS_WITH_AS(adamw.import_state({{"w/step", {-1.0f}}}),
                       "AdamW: state entry 'w/step' holds -1, not a step count (a whole number from 0 to 16777216)", tspipe::Error);
}
