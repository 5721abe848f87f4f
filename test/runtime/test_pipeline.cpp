// The pipeline runtime against single-device training: KD exactness for every generator, SSL
// staleness semantics, gradient completeness, checkpoints, and bad input.
#include <doctest/doctest.h>

#include "common.hpp"
#include "reference_checks.hpp"

#include <nlohmann/json.hpp>
#include <tspipe/sim/export.hpp>

#include <csignal>
#include <filesystem>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace test;
using namespace test::small_mlp;

namespace {

constexpr long kBatch = 8;

PipelineOptions kd_options(int stages, int micro_batches, const std::string& schedule) {
  return mlp_options(stages, micro_batches, schedule, kBatch, kFeatures);
}

}  // namespace

namespace {
/// Trains kSteps KD batches through a pipeline built with `o` and, independently, on one device;
/// losses and student parameters must agree. Returns the pipeline's measured trace.
tspipe::MeasuredTrace check_kd_exact(const PipelineOptions& o) {
  const auto loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>(4.0, 0.5);
  constexpr int kSteps = 5;
  ReferenceTrainer ref{as_model(mlp(teacher_widths(), 100, "t")), as_model(mlp(student_widths(), 200)), loss, sgd()(), {}};
  ref.teacher.set_training(false);
  Pipeline<B> pipeline(mlp(teacher_widths(), 100, "t"), mlp(student_widths(), 200), loss, sgd(), o);
  std::vector<double> ref_losses;
  for (int step = 0; step < kSteps; ++step) {
    const Batch batch = make_batch(kBatch, kFeatures, 1, kClasses, 7 + step);
    pipeline.feed(batch.views, batch.labels);
    ref_losses.push_back(ref.train(batch, 0.0));
  }
  check_losses_and_student(pipeline, ref_losses, ref);
  return pipeline.trace();
}
}  // namespace

TEST_CASE("KD exactness: every generator, S = 1…4, M ∈ {1, 2, 4} equals single-device training") {
  int runs = 0;
  for (auto name : tspipe::planning::generator_names()) {
    for (int S = 1; S <= 4; ++S) {
      for (int M : {1, 2, 3, 4}) {  // 3 only for the reference order's M = S − 1 at S = 4
        if (name == "sequential" && M != 1) continue;
        if (name == "tspipe-paper" ? M != S - 1 : M == 3) continue;
        INFO(std::string(name), " S=", S, " M=", M);
        check_kd_exact(kd_options(S, M, std::string(name)));
        ++runs;
      }
    }
  }
  CHECK(runs == 4 + 12 + 12 + 3 + 12);  // sequential, gpipe, 1f1b, tspipe-paper (S = 2…4), tspipe
}

TEST_CASE("dynamic dispatch: KD equals single-device training and every device's run order validates") {
  using tspipe::schedule::BackwardSplit;
  struct Case {
    const char* schedule;
    int stages, micro_batches;
    BackwardSplit split;
  };
  const Case cases[] = {{"gpipe", 2, 2, BackwardSplit::full},          {"1f1b", 3, 2, BackwardSplit::full},
                        {"tspipe", 4, 4, BackwardSplit::full},         {"tspipe", 3, 4, BackwardSplit::input_weight},
                        {"sequential", 3, 1, BackwardSplit::full},     {"tspipe-paper", 3, 2, BackwardSplit::halves}};
  for (const Case& c : cases) {
    INFO(c.schedule, " S=", c.stages, " M=", c.micro_batches, " split=", tspipe::schedule::to_string(c.split));
    PipelineOptions o = kd_options(c.stages, c.micro_batches, c.schedule);
    o.split = c.split;
    o.dispatch = tspipe::runtime::Dispatch::dynamic;
    o.segment_batches = 5;  // one segment: the trace is one schedule
    const auto trace = check_kd_exact(o);
    // The order the workers really ran is itself a valid schedule of the segment's workload.
    tspipe::schedule::Workload w;
    w.stages = c.stages;
    w.micro_batches = c.micro_batches;
    w.batches = 5;
    w.split = c.split;
    w.costs = tspipe::schedule::CostModel::unit(c.stages);
    tspipe::schedule::Schedule ran;
    for (const auto& device : trace) {
      ran.devices.emplace_back();
      for (const auto& m : device) ran.devices.back().push_back(m.action);
    }
    const auto violations = tspipe::schedule::validate(ran, w, 3);
    CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : tspipe::schedule::to_string(violations.front())));
  }
}

TEST_CASE("KD exactness holds under the BI/BW split, automatic partitioning, and tspipe choosing M and split") {
  for (bool choose : {false, true}) {
  INFO("choose M and split: ", choose);
  const auto loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>();
  ReferenceTrainer ref{as_model(mlp(teacher_widths(), 1, "t")), as_model(mlp(student_widths(), 2)), loss, sgd()(), {}};
  ref.teacher.set_training(false);
  PipelineOptions o = kd_options(3, 4, "tspipe");
  o.split = tspipe::schedule::BackwardSplit::input_weight;
  o.choose_micro_batches = o.choose_split = choose;
  o.teacher_cuts.clear();
  o.student_cuts.clear();
  Pipeline<B> pipeline(mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2), loss, sgd(), o);
  CHECK(pipeline.partition().stages() == 3);
  for (int step = 0; step < 4; ++step) {
    const Batch batch = make_batch(kBatch, kFeatures, 1, kClasses, 50 + step);
    pipeline.feed(batch.views, batch.labels);
    ref.train(batch, 0.0);
  }
  pipeline.flush();
  CHECK(max_relative_difference(values_of(pipeline.student_parameters()), values_of(ref.student.parameters())) < 1e-5);
  }
}

TEST_CASE("SSL staleness: δ = 1 reads ξ_{b−1} of an independent EMA trajectory; δ = 0 is sequential training") {
  const auto loss = std::make_shared<tspipe::nn::MseLoss>();
  for (int staleness : {0, 1}) {
    for (const char* name : {"gpipe", "tspipe", "1f1b", "tspipe (dynamic dispatch)"}) {
      INFO("δ=", staleness, " ", name);
      const bool dynamic = std::string_view(name).ends_with("(dynamic dispatch)");
      auto policy = tspipe::update::TeacherPolicy::momentum(0.9, staleness);
      // The momentum teacher starts as a copy of the student (same seed, same names).
      ReferenceTrainer ref{as_model(mlp(student_widths(), 300)), as_model(mlp(student_widths(), 300)), loss, sgd(0.1)(), policy};
      PipelineOptions o = kd_options(3, 2, dynamic ? "tspipe" : name);
      o.views = 2;
      o.teacher = policy;
      if (dynamic) o.dispatch = tspipe::runtime::Dispatch::dynamic;
      Pipeline<B> pipeline(mlp(student_widths(), 300), mlp(student_widths(), 300), loss, sgd(0.1), o);
      constexpr int kSteps = 6;
      for (int step = 0; step < kSteps; ++step) {
        const Batch batch = make_batch(kBatch, kFeatures, 2, kClasses, 90 + step);
        pipeline.feed(batch.views);
        ref.train(batch, 0.9);
      }
      pipeline.flush();
      CHECK(max_relative_difference(values_of(pipeline.student_parameters()), values_of(ref.student.parameters())) < 1e-5);
      // Every teacher version the pipeline still holds equals the reference trajectory's ξ_r.
      const auto held = pipeline.teacher_versions_held();
      for (int s = 0; s < pipeline.stages(); ++s)
        for (long r : held[static_cast<std::size_t>(s)]) {
          INFO("stage ", s, " version ", r);
          std::map<std::string, std::vector<float>> got;
          pipeline.with_teacher_version(s, r, [&](auto& teacher) { got = values_of(teacher.parameters()); });
          std::map<std::string, std::vector<float>> expected;
          for (const auto& [param, values] : ref.teacher_versions.at(r))
            if (got.count(param)) expected[param] = values;
          CHECK(max_relative_difference(got, expected) < 1e-5);
        }
      // δ = 1 keeps ξ_{N−1} beside ξ_N; δ = 0 needs only ξ_N.
      CHECK(held[0].back() == kSteps);
      CHECK(held[0].size() == static_cast<std::size_t>(staleness + 1));
    }
  }
}

namespace {
/// Gradients recorded by every stage's optimizer (stages step concurrently, hence the lock).
struct GradientSink {
  std::mutex mutex;
  std::map<std::string, std::vector<float>> gradients;
};

/// Records the gradient it is handed at each step (and applies no update).
class GradientRecorder final : public tspipe::nn::Optimizer {
 public:
  explicit GradientRecorder(std::shared_ptr<GradientSink> sink) : Optimizer(0.0), sink_(std::move(sink)) {}
  std::string_view name() const override { return "GradientRecorder"; }

 protected:
  void update(const tspipe::nn::ParamSlot& p) override {
    std::lock_guard lock(sink_->mutex);
    sink_->gradients[p.name] = std::vector<float>(p.grad.begin(), p.grad.end());
  }
  std::vector<std::string_view> state_kinds() const override { return {}; }

 private:
  std::shared_ptr<GradientSink> sink_;
};
}  // namespace

TEST_CASE("gradient completeness: the accumulated gradient equals the full-batch gradient") {
  const auto loss = std::make_shared<tspipe::nn::MseLoss>();  // two views
  const Batch batch = make_batch(kBatch, kFeatures, 2, kClasses, 5);
  auto recorded = std::make_shared<GradientSink>();
  PipelineOptions o = kd_options(2, 4, "gpipe");
  o.views = 2;
  Pipeline<B> pipeline(mlp(student_widths(), 1, "t"), mlp(student_widths(), 2), loss,
                       [recorded] { return std::make_unique<GradientRecorder>(recorded); }, o);
  pipeline.feed(batch.views, batch.labels);
  pipeline.flush();

  // Full-batch gradient by hand: both views through the whole student at once.
  auto teacher = as_model(mlp(student_widths(), 1, "t"));
  teacher.set_training(false);
  auto student = as_model(mlp(student_widths(), 2));
  whole_batch_backward(teacher, student, *loss, batch);
  std::map<std::string, std::vector<float>> expected;
  for (auto& p : student.parameters()) expected[p.name] = std::vector<float>(p.grad->span().begin(), p.grad->span().end());
  REQUIRE(recorded->gradients.size() == expected.size());
  CHECK(max_relative_difference(recorded->gradients, expected) < 1e-5);
  // OPT zeroes the gradients after the step.
  for (auto& p : pipeline.student_parameters())
    for (float g : p.grad->span()) CHECK(g == 0.0f);
}

namespace {
void train_steps(Pipeline<B>& pipeline, int from, int to) {
  for (int step = from; step < to; ++step) {
    const Batch batch = make_batch(kBatch, kFeatures, 2, kClasses, 400 + step);
    pipeline.feed(batch.views);
  }
  pipeline.flush();
}
Pipeline<B> ssl_pipeline() {
  PipelineOptions o = kd_options(2, 2, "tspipe");
  o.views = 2;
  o.segment_batches = 3;
  o.teacher = tspipe::update::TeacherPolicy::momentum(0.8, 1);
  auto adam = [] { return std::make_unique<tspipe::nn::AdamW>(tspipe::nn::AdamWOptions{.learning_rate = 0.01}); };
  return Pipeline<B>(mlp(student_widths(), 300), mlp(student_widths(), 300), std::make_shared<tspipe::nn::MseLoss>(), adam, o);
}
std::filesystem::path scratch(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() / ("tspipe_runtime_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return dir / name;
}
}  // namespace

TEST_CASE("checkpoint: save at step k, restore in a new pipeline, continue = uninterrupted run, bit for bit") {
  Pipeline<B> uninterrupted = ssl_pipeline();
  train_steps(uninterrupted, 0, 7);

  const auto path = scratch("resume.safetensors");
  {
    Pipeline<B> first = ssl_pipeline();
    train_steps(first, 0, 4);
    first.save(path);
  }
  Pipeline<B> resumed = ssl_pipeline();
  resumed.load(path);
  CHECK(resumed.batches_fed() == 4);
  train_steps(resumed, 4, 7);
  CHECK(values_of(resumed.student_parameters()) == values_of(uninterrupted.student_parameters()));
  CHECK(values_of(resumed.teacher_parameters()) == values_of(uninterrupted.teacher_parameters()));
  CHECK(resumed.teacher_versions_held() == uninterrupted.teacher_versions_held());
}

TEST_CASE("checkpoint: a process killed while saving leaves the previous checkpoint loadable") {
  const auto path = scratch("killed.safetensors");
  {
    Pipeline<B> pipeline = ssl_pipeline();
    train_steps(pipeline, 0, 2);
    pipeline.save(path);
  }
  for (int attempt = 0; attempt < 5; ++attempt) {
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {  // save over and over until killed
      Pipeline<B> pipeline = ssl_pipeline();
      train_steps(pipeline, 0, 3);
      for (;;) pipeline.save(path);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(150 + 37 * attempt));
    ::kill(child, SIGKILL);
    int status = 0;
    ::waitpid(child, &status, 0);
    Pipeline<B> reader = ssl_pipeline();
    CHECK_NOTHROW(reader.load(path));
    CHECK((reader.batches_fed() == 2 || reader.batches_fed() == 3));
  }
  // Leftover temporary files are the only trace of the killed saves; the checkpoint itself is whole.
  std::filesystem::remove_all(path.parent_path());
}

TEST_CASE("checkpoint: missing or foreign files are clear errors") {
  Pipeline<B> pipeline = ssl_pipeline();
  CHECK_THROWS_WITH_AS(pipeline.load(scratch("absent.safetensors")), doctest::Contains("absent.safetensors"), tspipe::Error);
  const auto foreign = scratch("foreign.safetensors");
  tspipe::nn::SafetensorsContent content;
  content.tensors["x"] = tspipe::nn::StoredTensor::from_f32({1}, std::vector<float>{1.0f});
  tspipe::nn::save_safetensors(foreign, content);
  CHECK_THROWS_WITH_AS(pipeline.load(foreign), doctest::Contains("not a tspipe checkpoint"), tspipe::Error);

  // A real checkpoint with damaged metadata: the field is named.
  const auto damaged = scratch("damaged.safetensors");
  pipeline.save(damaged);
  auto saved = tspipe::nn::load_safetensors(damaged);
  saved.metadata["step"] = "four";
  tspipe::nn::save_safetensors(damaged, saved);
  CHECK_THROWS_WITH_AS(pipeline.load(damaged), doctest::Contains("metadata step 'four' is not a non-negative integer"), tspipe::Error);
  saved.metadata.erase("teacher_active.1");
  saved.metadata["step"] = "0";
  tspipe::nn::save_safetensors(damaged, saved);
  CHECK_THROWS_WITH_AS(pipeline.load(damaged), doctest::Contains("metadata 'teacher_active.1' is missing"), tspipe::Error);
}

TEST_CASE("bad configuration is rejected with a message that names the problem") {
  const auto loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>();
  const auto build = [&](PipelineOptions o, Blocks teacher, Blocks student) {
    Pipeline<B> p(std::move(teacher), std::move(student), loss, sgd(), std::move(o));
  };
  // Shapes that do not chain: the student's second block expects 9 features.
  {
    Blocks student = mlp({kFeatures, 10}, 1);
    student.push_back(tspipe::nn::named<B>("bad", B::linear(9, kClasses, true, 2, "bad")));
    CHECK_THROWS_WITH_AS(build(kd_options(1, 1, "gpipe"), mlp(teacher_widths(), 1, "t"), std::move(student)),
                         doctest::Contains("student block 1"), tspipe::Error);
  }
  CHECK_THROWS_WITH_AS(build(kd_options(5, 1, "gpipe"), mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2)),
                       doctest::Contains("5 stages"), tspipe::Error);
  CHECK_THROWS_WITH_AS(build(kd_options(2, 9, "gpipe"), mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2)),
                       doctest::Contains("larger than the batch"), tspipe::Error);
  {
    PipelineOptions o = kd_options(2, 1, "gpipe");
    o.teacher = tspipe::update::TeacherPolicy::momentum(1.5, 1);
    CHECK_THROWS_WITH_AS(build(o, mlp(student_widths(), 1), mlp(student_widths(), 1)), doctest::Contains("τ = 1.5"), tspipe::Error);
    o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, -1);
    CHECK_THROWS_WITH_AS(build(o, mlp(student_widths(), 1), mlp(student_widths(), 1)), doctest::Contains("staleness δ = -1"), tspipe::Error);
  }
  CHECK_THROWS_WITH_AS(build(kd_options(2, 1, "zigzag"), mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2)),
                       doctest::Contains("unknown schedule 'zigzag'"), tspipe::Error);
  CHECK_THROWS_WITH_AS(build(kd_options(3, 1, "tspipe-paper"), mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2)),
                       doctest::Contains("M = S − 1"), tspipe::Error);
  {
    PipelineOptions o = kd_options(2, 1, "gpipe");
    o.student_cuts = {7};
    CHECK_THROWS_WITH_AS(build(o, mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2)), doctest::Contains("cut 7"), tspipe::Error);
  }
  // A batch of the wrong shape.
  Pipeline<B> pipeline(mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2), loss, sgd(), kd_options(2, 2, "gpipe"));
  CHECK_THROWS_WITH_AS(pipeline.feed({Tensor::zeros({kBatch, kFeatures + 1})}, std::vector<int>(kBatch, 0)),
                       doctest::Contains("view 0 has shape [8, 7]"), tspipe::Error);
  // Dynamic dispatch reads every stage's progress: it cannot span processes.
  PipelineOptions dynamic = kd_options(2, 2, "gpipe");
  dynamic.dispatch = tspipe::runtime::Dispatch::dynamic;
  Pipeline<B> local(mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2), loss, sgd(), dynamic);
  tspipe::Distribution<Tensor> split_up;
  split_up.local_stages = {0};
  CHECK_THROWS_WITH_AS(local.set_distribution(split_up), doctest::Contains("dynamic dispatch reads every stage's progress"),
                       tspipe::Error);
}

namespace {
/// A loss whose value is NaN (a diverged step), with finite gradients.
class NanLoss final : public tspipe::nn::Loss {
 public:
  std::string_view name() const override { return "NaN"; }
  tspipe::nn::LossOutput compute(const tspipe::nn::LossInput& input) const override {
    tspipe::nn::LossOutput out;
    out.loss = std::numeric_limits<double>::quiet_NaN();
    for (const auto& m : input.student) out.d_student.emplace_back(m.size(), 0.0f);
    return out;
  }
};
}  // namespace

TEST_CASE("a loss returning NaN fails the segment with the batch named; workers shut down") {
  Pipeline<B> pipeline(mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2), std::make_shared<NanLoss>(), sgd(),
                       kd_options(3, 2, "tspipe"));
  const Batch batch = make_batch(kBatch, kFeatures, 1, kClasses, 3);
  pipeline.feed(batch.views, batch.labels);
  CHECK_THROWS_WITH_AS(pipeline.flush(), doctest::Contains("LOSS:0: the loss of batch 0 is nan"), tspipe::Error);
}

TEST_CASE("NaN in the data reaching the loss is named by the loss") {
  const auto loss = std::make_shared<tspipe::nn::MseLoss>();
  PipelineOptions o = kd_options(2, 2, "gpipe");
  Blocks student;
  student.push_back(tspipe::nn::named<B>("a", B::linear(kFeatures, kClasses, true, 1, "a")));
  student.push_back(tspipe::nn::named<B>("b", B::linear(kClasses, kClasses, true, 2, "b")));
  Blocks teacher;
  teacher.push_back(tspipe::nn::named<B>("a", B::linear(kFeatures, kClasses, true, 3, "a")));
  teacher.push_back(tspipe::nn::named<B>("b", B::linear(kClasses, kClasses, true, 4, "b")));
  Pipeline<B> pipeline(std::move(teacher), std::move(student), loss, sgd(), o);
  Batch batch = make_batch(kBatch, kFeatures, 1, kClasses, 3);
  batch.views[0][5] = std::numeric_limits<float>::quiet_NaN();  // no ReLU to swallow it
  pipeline.feed(batch.views, batch.labels);
  CHECK_THROWS_WITH_AS(pipeline.flush(), doctest::Contains("is NaN"), tspipe::Error);
}

namespace {
/// A block that stalls: its teacher path sleeps far longer than the watchdog allows.
class Sleepy final : public tspipe::nn::Layer<B> {
 public:
  std::string kind() const override { return "Sleepy"; }
  Tensor infer(const Tensor& x) override {
    std::this_thread::sleep_for(std::chrono::milliseconds(calls_++ < 2 ? 0 : 1500));  // profiling runs it twice
    return x;
  }
  std::pair<Tensor, tspipe::nn::Context<B>> forward(const Tensor& x) override { return {x, {}}; }
  Tensor backward(tspipe::nn::Context<B>&, const Tensor& dy) override { return dy; }

 private:
  int calls_ = 0;
};
}  // namespace

TEST_CASE("the watchdog reports which action a stalled worker waits on; nothing hangs") {
  const auto loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>();
  Blocks teacher;
  teacher.push_back(std::make_unique<Sleepy>());  // stage 0 of the teacher stalls
  for (auto& b : mlp(teacher_widths(), 1, "t")) teacher.push_back(std::move(b));
  PipelineOptions o = kd_options(2, 1, "gpipe");
  o.teacher_cuts = {1};
  o.watchdog = std::chrono::milliseconds(300);
  Pipeline<B> pipeline(std::move(teacher), mlp(student_widths(), 2), loss, sgd(), o);
  const Batch batch = make_batch(kBatch, kFeatures, 1, kClasses, 3);
  pipeline.feed(batch.views, batch.labels);
  const auto start = std::chrono::steady_clock::now();
  CHECK_THROWS_WITH_AS(pipeline.flush(), doctest::Contains("stage 1, FT:1.0.0.0: stage 1 waited 300 ms for the activation for FT"),
                       tspipe::Error);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("under dynamic dispatch the watchdog names the action a starved worker waits for; nothing hangs") {
  const auto loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>();
  Blocks teacher;
  teacher.push_back(std::make_unique<Sleepy>());
  for (auto& b : mlp(teacher_widths(), 1, "t")) teacher.push_back(std::move(b));
  PipelineOptions o = kd_options(2, 1, "gpipe");
  o.teacher_cuts = {1};
  o.watchdog = std::chrono::milliseconds(300);
  o.dispatch = tspipe::runtime::Dispatch::dynamic;
  Pipeline<B> pipeline(std::move(teacher), mlp(student_widths(), 2), loss, sgd(), o);
  const Batch batch = make_batch(kBatch, kFeatures, 1, kClasses, 3);
  pipeline.feed(batch.views, batch.labels);
  const auto start = std::chrono::steady_clock::now();
  // Stage 1 runs its student forward, then its loss waits on the teacher stuck in stage 0.
  CHECK_THROWS_WITH_AS(pipeline.flush(),
                       doctest::Contains("stage 1: device 1 found no ready action for 300 ms; its first waiting action LOSS:0 "
                                         "waits for FT:1.0.0.0"),
                       tspipe::Error);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
}

TEST_CASE("the measured trace holds every action run, exports as a Chrome trace, and predicts vs measures") {
  const auto loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>();
  PipelineOptions o = kd_options(2, 2, "tspipe");
  o.segment_batches = 3;
  Pipeline<B> pipeline(mlp(teacher_widths(), 1, "t"), mlp(student_widths(), 2), loss, sgd(), o);
  for (int step = 0; step < 3; ++step) {
    const Batch batch = make_batch(kBatch, kFeatures, 1, kClasses, 60 + step);
    pipeline.feed(batch.views, batch.labels);
  }
  pipeline.flush();
  auto expected = tspipe::planning::generate("tspipe", pipeline.workload(3));
  REQUIRE(expected.ok());
  std::size_t traced = 0;
  for (std::size_t j = 0; j < pipeline.trace().size(); ++j) {
    traced += pipeline.trace()[j].size();
    for (const auto& m : pipeline.trace()[j]) {
      CHECK(m.end >= m.start);
      CHECK(tspipe::schedule::device_of(pipeline.workload(3), m.action) == static_cast<int>(j));
    }
  }
  CHECK(traced == expected.value().schedule.num_actions());
  const auto json = nlohmann::json::parse(tspipe::sim::chrome_trace(pipeline.trace_timeline(), "run", 1e6));
  std::size_t events = 0;
  for (const auto& e : json["traceEvents"]) events += e["ph"] == "X" ? 1 : 0;
  CHECK(events == traced);
  const auto timing = pipeline.timing_report();
  CHECK(timing.predicted_time_per_batch > 0.0);
  CHECK(timing.measured_time_per_batch > 0.0);
  // Per-stage predicted times come with the partition.
  CHECK(pipeline.partition().predicted_stage_time.size() == 2);
}
