// A loss per micro-batch (LOSS:b.u over micro-batch u's rows): which losses decompose, training
// through 2- and 3-stage pipelines equal to single-device training (KD with a frozen teacher,
// BYOL with a momentum teacher at δ = 1), uneven micro-batches, a schedule that starts a backward
// before the batch's last forward, the refusal of a loss that compares samples across the batch,
// and a checkpoint that resumes bit for bit with the option restored.
#include <doctest/doctest.h>

#include "common.hpp"
#include "reference_checks.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

using namespace test;
using namespace test::small_mlp;
using tspipe::LossGranularity;
using tspipe::schedule::ActionKind;

namespace {

constexpr long kBatch = 7;  // uneven slices: 4 + 3 at M = 2, 3 + 2 + 2 at M = 3

PipelineOptions per_micro_batch(int stages, int micro_batches, const std::string& schedule) {
  PipelineOptions o = mlp_options(stages, micro_batches, schedule, kBatch, kFeatures);
  o.loss_granularity = LossGranularity::micro_batch;
  return o;
}

/// The loss of `loss` on rows [begin, begin + count) of every view (labels too, when given).
tspipe::nn::LossOutput loss_of_rows(const tspipe::nn::Loss& loss, const std::vector<Tensor>& student,
                                    const std::vector<Tensor>& teacher, const std::vector<int>& labels, long begin, long count) {
  tspipe::nn::LossInput input;
  const int cols = static_cast<int>(student[0].numel() / student[0].size(0));
  for (const Tensor& s : student) input.student.push_back({s.data() + begin * cols, static_cast<int>(count), cols});
  for (const Tensor& t : teacher) input.teacher.push_back({t.data() + begin * cols, static_cast<int>(count), cols});
  if (!labels.empty()) input.labels = std::span<const int>(labels).subspan(static_cast<std::size_t>(begin), static_cast<std::size_t>(count));
  return loss.compute(input);
}

/// Whether the slices' losses, weighted by their share of the rows, sum to the whole batch's loss,
/// and their gradients so weighted are the whole batch's gradient rows.
bool decomposes(const tspipe::nn::Loss& loss, int views, bool labelled) {
  constexpr long kRows = 7;
  std::vector<Tensor> student, teacher;
  for (int v = 0; v < views; ++v) {
    student.push_back(Tensor::randn({kRows, kClasses}, 11 + static_cast<uint64_t>(v)));
    teacher.push_back(Tensor::randn({kRows, kClasses}, 21 + static_cast<uint64_t>(v)));
  }
  const std::vector<int> labels = labelled ? std::vector<int>{0, 3, 1, 2, 2, 0, 1} : std::vector<int>{};
  const auto whole = loss_of_rows(loss, student, teacher, labels, 0, kRows);
  double sum = 0.0;
  bool gradients_agree = true;
  for (int u = 0; u < 3; ++u) {
    const auto [begin, count] = tspipe::runtime::micro_batch_rows(kRows, 3, u);
    const auto part = loss_of_rows(loss, student, teacher, labels, begin, count);
    const double share = static_cast<double>(count) / kRows;
    sum += share * part.loss;
    for (int v = 0; v < views; ++v)
      for (long i = 0; i < count * kClasses; ++i) {
        const double expected = whole.d_student[static_cast<std::size_t>(v)][static_cast<std::size_t>(begin * kClasses + i)];
        const double got = share * part.d_student[static_cast<std::size_t>(v)][static_cast<std::size_t>(i)];
        gradients_agree = gradients_agree && std::abs(got - expected) <= 1e-6 + 1e-5 * std::abs(expected);
      }
  }
  return gradients_agree && std::abs(sum - whole.loss) <= 1e-9 * std::max(1.0, std::abs(whole.loss));
}

/// The position of the first action on `device` matching `pick` (the device's length if none).
template <class Pick>
std::size_t first_where(const std::deque<tspipe::MeasuredAction>& device, Pick pick) {
  return static_cast<std::size_t>(std::find_if(device.begin(), device.end(), [&](const auto& m) { return pick(m.action); }) -
                                  device.begin());
}

/// On the last stage of `trace`: batch b holds a LOSS of a micro-batch u > 0, and a backward of
/// micro-batch 0 ran before the forward of its last micro-batch (what a whole-batch loss forbids).
bool backward_before_last_forward(const tspipe::MeasuredTrace& trace, long b, int micro_batches) {
  const auto& last = trace.back();
  const bool later_loss = std::any_of(last.begin(), last.end(), [&](const auto& m) {
    return m.action.kind == ActionKind::Loss && m.action.batch == b && m.action.micro_batch > 0;
  });
  const std::size_t first_backward = first_where(last, [&](const tspipe::schedule::Action& a) {
    return (a.kind == ActionKind::StudentBackward || a.kind == ActionKind::BackwardInput) && a.batch == b && a.micro_batch == 0;
  });
  std::size_t last_forward = 0;
  for (std::size_t i = 0; i < last.size(); ++i)
    if (last[i].action.kind == ActionKind::StudentForward && last[i].action.batch == b && last[i].action.micro_batch == micro_batches - 1)
      last_forward = i;
  return later_loss && first_backward < last_forward;
}

struct Run {
  tspipe::MeasuredTrace trace;
  tspipe::schedule::Workload planned;
};

/// Trains six batches through a pipeline built with `o` and, independently, on one device: KD
/// with a frozen teacher, or (a momentum teacher in `o`) BYOL on two views with a teacher that
/// starts as the student. Every reported loss, the student, and each teacher version a stage still
/// holds must agree with the reference's.
Run check_exact(const PipelineOptions& o) {
  const bool ssl = o.teacher.is_momentum();
  std::shared_ptr<const tspipe::nn::Loss> loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>(4.0, 0.5);
  if (ssl) loss = std::make_shared<tspipe::nn::ByolLoss>();
  const auto teacher = [&] { return ssl ? mlp(student_widths(), 300) : mlp(teacher_widths(), 100, "t"); };
  const auto student = [&] { return mlp(student_widths(), ssl ? 300 : 200); };
  ReferenceTrainer ref{as_model(teacher()), as_model(student()), loss, sgd()(), o.teacher};
  ref.teacher.set_training(ssl);
  Pipeline<B> pipeline(teacher(), student(), loss, sgd(), o);
  REQUIRE(pipeline.options().loss_granularity == LossGranularity::micro_batch);
  constexpr int kSteps = 6;
  std::vector<double> expected;
  for (int step = 0; step < kSteps; ++step) {
    const Batch batch = make_batch(kBatch, kFeatures, o.views, kClasses, 70 + static_cast<uint64_t>(step));
    pipeline.feed(batch.views, ssl ? std::vector<int>{} : batch.labels);
    expected.push_back(ref.train(batch, o.teacher.tau.at(step)));
  }
  check_losses_and_student(pipeline, expected, ref);
  if (ssl) for_each_held_teacher_version(pipeline, ref, [](double difference) { CHECK(difference < 1e-5); });
  return {pipeline.trace(), pipeline.workload(o.segment_batches)};
}

std::filesystem::path scratch(const std::string& name) { return scratch_file("micro_batch_loss", name); }

}  // namespace

TEST_CASE("KD's, BYOL's, cross-entropy and MSE losses are per-sample and decompose over row slices; MoCo-v3's is not and does not") {
  const tspipe::nn::SoftTargetKDLoss kd(4.0, 0.5);
  const tspipe::nn::ByolLoss byol;
  const tspipe::nn::CrossEntropyLoss cross_entropy;
  const tspipe::nn::MseLoss mse;
  const tspipe::nn::MocoV3Loss moco;
  CHECK(kd.per_sample());
  CHECK(byol.per_sample());
  CHECK(cross_entropy.per_sample());
  CHECK(mse.per_sample());
  CHECK_FALSE(moco.per_sample());
  // The declarations against the losses themselves: the rows-weighted slices give the batch's
  // loss and gradient exactly when the loss says it is per-sample.
  CHECK(decomposes(kd, 1, true));
  CHECK(decomposes(byol, 2, false));
  CHECK(decomposes(cross_entropy, 1, true));
  CHECK(decomposes(mse, 2, false));
  CHECK_FALSE(decomposes(moco, 2, false));
}

TEST_CASE("per-micro-batch KD equals single-device training: S = 2, 3, M = 2, 3 (uneven slices), 1f1b, gpipe and tspipe") {
  for (const char* schedule : {"1f1b", "gpipe", "tspipe"})
    for (int S : {2, 3})
      for (int M : {2, 3}) {
        INFO(schedule, " S=", S, " M=", M);
        const Run run = check_exact(per_micro_batch(S, M, schedule));
        CHECK(run.planned.per_micro_batch_loss);
        // 1F1B proper: the last stage runs micro-batch 0's backward before the batch's last
        // forward, on every batch.
        if (std::string(schedule) == "1f1b")
          for (long b = 0; b < 6; ++b) CHECK(backward_before_last_forward(run.trace, b, M));
      }
  // The check can fail: under a whole-batch loss 1f1b runs every forward of a batch first.
  Pipeline<B> whole(mlp(teacher_widths(), 100, "t"), mlp(student_widths(), 200), std::make_shared<tspipe::nn::SoftTargetKDLoss>(),
                    sgd(), mlp_options(2, 3, "1f1b", kBatch, kFeatures));
  const Batch batch = make_batch(kBatch, kFeatures, 1, kClasses, 3);
  whole.feed(batch.views, batch.labels);
  whole.flush();
  CHECK_FALSE(backward_before_last_forward(whole.trace(), 0, 3));
}

TEST_CASE("per-micro-batch KD: sequential, tspipe-paper (backward halves), the BI/BW split, dynamic dispatch") {
  check_exact(per_micro_batch(3, 1, "sequential"));
  check_exact(per_micro_batch(3, 2, "tspipe-paper"));
  check_exact(per_micro_batch(4, 3, "tspipe-paper"));
  for (const auto dispatch : {tspipe::runtime::Dispatch::in_order, tspipe::runtime::Dispatch::dynamic}) {
    INFO("dynamic: ", dispatch == tspipe::runtime::Dispatch::dynamic);
    PipelineOptions o = per_micro_batch(3, 3, "tspipe");
    o.split = tspipe::schedule::BackwardSplit::input_weight;
    o.dispatch = dispatch;
    o.segment_batches = 6;  // one segment: the trace is one schedule
    const Run run = check_exact(o);
    // The order the workers really ran is itself a valid schedule of the per-micro-batch workload.
    tspipe::schedule::Schedule ran;
    for (const auto& device : run.trace) {
      ran.devices.emplace_back();
      for (const auto& m : device) ran.devices.back().push_back(m.action);
    }
    const auto violations = tspipe::schedule::validate(ran, run.planned, 3);
    CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : tspipe::schedule::to_string(violations.front())));
  }
}

TEST_CASE("per-micro-batch BYOL with a momentum teacher (δ = 1) equals single-device training, teacher versions too") {
  for (const char* schedule : {"1f1b", "tspipe"})
    for (int S : {2, 3})
      for (int M : {2, 3}) {
        INFO(schedule, " S=", S, " M=", M);
        PipelineOptions o = per_micro_batch(S, M, schedule);
        o.views = 2;
        o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1);
        const Run run = check_exact(o);
        if (std::string(schedule) == "1f1b") CHECK(backward_before_last_forward(run.trace, 5, M));
      }
}

TEST_CASE("automatic runs a per-sample loss per micro-batch and MoCo-v3's per batch; asking MoCo-v3 per micro-batch is refused by name") {
  const auto build = [](std::shared_ptr<const tspipe::nn::Loss> loss, LossGranularity granularity) {
    PipelineOptions o = mlp_options(2, 2, "tspipe", kBatch, kFeatures);
    o.views = 2;
    o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1);
    o.loss_granularity = granularity;
    return std::make_unique<Pipeline<B>>(mlp(student_widths(), 300), mlp(student_widths(), 300), std::move(loss), sgd(), o);
  };
  const auto moco = std::make_shared<tspipe::nn::MocoV3Loss>();
  const auto byol = std::make_shared<tspipe::nn::ByolLoss>();
  CHECK(PipelineOptions{}.loss_granularity == LossGranularity::whole_batch);
  CHECK(build(byol, LossGranularity::automatic)->options().loss_granularity == LossGranularity::micro_batch);
  CHECK_FALSE(build(byol, LossGranularity::whole_batch)->workload(2).per_micro_batch_loss);
  const auto automatic_moco = build(moco, LossGranularity::automatic);
  CHECK(automatic_moco->options().loss_granularity == LossGranularity::whole_batch);
  CHECK_FALSE(automatic_moco->workload(2).per_micro_batch_loss);
  CHECK_THROWS_WITH_AS(build(moco, LossGranularity::micro_batch),
                       doctest::Contains("needs a loss that is a mean of per-sample terms, and the MoCo-v3 loss is not"), tspipe::Error);
}

TEST_CASE("resume with a per-micro-batch loss: the option comes back with the plan; later losses and weights are bit-identical") {
  for (const bool ssl : {false, true}) {
    CAPTURE(ssl);
    const auto make = [&](LossGranularity granularity) {
      PipelineOptions o = per_micro_batch(2, 3, "1f1b");
      o.teacher_cuts = o.student_cuts = {2};
      o.loss_granularity = granularity;
      if (ssl) {
        o.views = 2;
        o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1);
        return std::make_unique<Pipeline<B>>(
            mlp(student_widths(), 301), mlp(student_widths(), 301), std::make_shared<tspipe::nn::ByolLoss>(),
            [] { return std::make_unique<tspipe::nn::AdamW>(tspipe::nn::AdamWOptions{.learning_rate = 0.01}); }, o);
      }
      return std::make_unique<Pipeline<B>>(mlp(teacher_widths(), 301, "t"), mlp(student_widths(), 300),
                                           std::make_shared<tspipe::nn::SoftTargetKDLoss>(4.0, 0.5), sgd(), o);
    };
    const auto train = [&](Pipeline<B>& pipeline, int from, int to) {
      for (int step = from; step < to; ++step) {
        const Batch batch = make_batch(kBatch, kFeatures, ssl ? 2 : 1, kClasses, 500 + static_cast<uint64_t>(step));
        pipeline.feed(batch.views, ssl ? std::vector<int>{} : batch.labels);
      }
      pipeline.flush();
      return pipeline.take_losses();
    };
    constexpr int kSaveAt = 4, kEnd = 10;  // at a segment boundary: the same segments as one run
    const auto uninterrupted = make(LossGranularity::micro_batch);
    const auto costs = uninterrupted->profiled_costs();
    const auto all = train(*uninterrupted, 0, kEnd);

    const auto path = scratch(ssl ? "resume_ssl.safetensors" : "resume_kd.safetensors");
    {
      const auto first = make(LossGranularity::micro_batch);
      first->set_profiled_costs(costs);  // one plan for both runs: profiles differ from run to run
      train(*first, 0, kSaveAt);
      first->save(path);
    }
    CHECK(tspipe::nn::load_safetensors(path).metadata.at("plan.loss_granularity") == "micro-batch");
    // The resumed pipeline is built asking for a whole-batch loss: the checkpoint's plan wins.
    const auto resumed = make(LossGranularity::whole_batch);
    REQUIRE_FALSE(resumed->workload(2).per_micro_batch_loss);
    resumed->load(path);
    CHECK(resumed->options().loss_granularity == LossGranularity::micro_batch);
    CHECK(resumed->workload(2).per_micro_batch_loss);
    const auto later = train(*resumed, kSaveAt, kEnd);
    REQUIRE(later.size() == static_cast<std::size_t>(kEnd - kSaveAt));
    for (std::size_t i = 0; i < later.size(); ++i) {
      CHECK(later[i].batch == all[kSaveAt + i].batch);
      CHECK(later[i].loss == all[kSaveAt + i].loss);
    }
    CHECK(values_of(resumed->student_parameters()) == values_of(uninterrupted->student_parameters()));
    CHECK(values_of(resumed->teacher_parameters()) == values_of(uninterrupted->teacher_parameters()));
    CHECK(resumed->teacher_versions_held() == uninterrupted->teacher_versions_held());
  }
}

TEST_CASE("a checkpoint's per-micro-batch plan is refused for MoCo-v3, and a malformed granularity by name; nothing changes") {
  const auto path = scratch("granularity.safetensors");
  PipelineOptions o = mlp_options(2, 2, "tspipe", kBatch, kFeatures);
  o.views = 2;
  o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1);
  o.teacher_cuts = o.student_cuts = {2};
  {
    PipelineOptions per_micro = o;
    per_micro.loss_granularity = LossGranularity::micro_batch;
    Pipeline<B> byol(mlp(student_widths(), 301), mlp(student_widths(), 301), std::make_shared<tspipe::nn::ByolLoss>(), sgd(), per_micro);
    const Batch batch = make_batch(kBatch, kFeatures, 2, kClasses, 5);
    byol.feed(batch.views);
    byol.save(path);
  }
  Pipeline<B> moco(mlp(student_widths(), 302), mlp(student_widths(), 302), std::make_shared<tspipe::nn::MocoV3Loss>(), sgd(), o);
  const auto before = values_of(moco.student_parameters());
  CHECK_THROWS_WITH_AS(moco.load(path), doctest::Contains("and the MoCo-v3 loss is not"), tspipe::Error);
  CHECK(moco.options().loss_granularity == LossGranularity::whole_batch);
  CHECK(moco.batches_fed() == 0);
  CHECK(values_of(moco.student_parameters()) == before);

  tspipe::nn::SafetensorsContent content = tspipe::nn::load_safetensors(path);
  content.metadata["plan.loss_granularity"] = "per-row";
  tspipe::nn::save_safetensors(path, content);
  CHECK_THROWS_WITH_AS(moco.load(path), doctest::Contains("metadata plan.loss_granularity 'per-row' is neither whole-batch nor micro-batch"),
                       tspipe::Error);
  // A checkpoint from before the option ran one LOSS per batch, and resumes so.
  content.metadata.erase("plan.loss_granularity");
  tspipe::nn::save_safetensors(path, content);
  moco.load(path);
  CHECK(moco.options().loss_granularity == LossGranularity::whole_batch);
  CHECK(moco.batches_fed() == 1);
}
