// The runtime reaches parameters, optimizer, EMA, teacher versions and loss through
// runtime::BackendHooks so that a device backend can supply them. These tests pin that the host
// hooks (the CPU backend's) keep the CPU path exactly what it was: the same types at the API,
// and a whole-batch pipeline bit-for-bit equal to the same training written out by hand with the
// host calls the runtime made before the hooks existed (nn::Optimizer::step over ParamSlots,
// nn::momentum_teacher_update, the buffer average, nn::Loss over MatrixViews, host version copies).
#include <doctest/doctest.h>

#include "common.hpp"

#include <tspipe/runtime/backend_hooks.hpp>

#include <type_traits>

using namespace test;

namespace {

using Hooks = tspipe::runtime::BackendHooks<B>;

constexpr int64_t kFeatures = 6, kOutputs = 5;
constexpr long kBatch = 8;

// A block with buffers (BatchNorm running statistics), so the teacher's buffer average runs too.
Blocks model(uint64_t seed) {
  Blocks blocks;
  auto first = std::make_unique<tspipe::nn::Sequential<B>>();
  first->add("fc0", B::linear(kFeatures, 12, true, seed, "fc0"));
  first->add("bn0", B::batch_norm1d(12, "bn0"));
  first->add("act0", B::relu());
  blocks.push_back(std::move(first));
  blocks.push_back(tspipe::nn::named<B>("fc1", B::linear(12, kOutputs, true, seed + 1, "fc1")));
  return blocks;
}

std::unique_ptr<tspipe::nn::Optimizer> adamw() {
  return std::make_unique<tspipe::nn::AdamW>(tspipe::nn::AdamWOptions{.learning_rate = 0.01, .weight_decay = 0.01f});
}

std::map<std::string, std::vector<float>> buffers_of(tspipe::nn::Sequential<B>& m) {
  std::map<std::string, std::vector<float>> out;
  for (auto& b : m.buffers()) out[b.name] = std::vector<float>(b.value->span().begin(), b.value->span().end());
  return out;
}

}  // namespace

TEST_CASE("the CPU backend's hooks are the host types: Pipeline<cpu::Backend>'s API is unchanged") {
  static_assert(std::is_same_v<Hooks::Loss, tspipe::nn::Loss>);
  static_assert(std::is_same_v<Hooks::Optimizer, tspipe::nn::Optimizer>);
  static_assert(std::is_same_v<Hooks::StudentSlot, tspipe::nn::ParamSlot>);
  static_assert(std::is_same_v<Hooks::TeacherSlot, tspipe::nn::TeacherSlot>);
  static_assert(std::is_same_v<tspipe::runtime::Stage<B>::Versions, tspipe::runtime::VersionStore>);
  static_assert(std::is_same_v<tspipe::Pipeline<B>::OptimizerFactory, tspipe::OptimizerFactory>);
  static_assert(std::is_same_v<tspipe::Pipeline<B>::Distribution, tspipe::Distribution<Tensor>>);
  static_assert(std::is_empty_v<Hooks>, "host stages carry no backend state");

  // The host slots view the layers' own storage, as the runtime's did.
  auto layer = B::linear(3, 2, true, 1, "fc");
  auto params = layer->parameters();
  const auto slot = Hooks::student_slot(params[0]);
  CHECK(slot.name == params[0].name);
  CHECK(slot.value.data() == params[0].value->data());
  CHECK(slot.grad.data() == params[0].grad->data());
  CHECK(Hooks::teacher_slot(params[0]).value.data() == params[0].value->data());
  CHECK(Hooks::version_param(params[0]).data() == params[0].value->data());
}

TEST_CASE("CPU pipeline through the host hooks = the same training by hand, bit for bit") {
  const auto loss = std::make_shared<tspipe::nn::MseLoss>();
  for (int staleness : {0, 1}) {
    INFO("δ = ", staleness);
    constexpr double kTau = 0.9;
    auto policy = tspipe::update::TeacherPolicy::momentum(kTau, staleness);
    policy.buffers = tspipe::update::TeacherBuffers::average;

    tspipe::PipelineOptions o;
    o.schedule = "sequential";  // one stage, whole batches: the same arithmetic as the hand-written loop
    o.batch_size = kBatch;
    o.input_shape = {kFeatures};
    o.teacher = policy;
    o.segment_batches = 2;  // versions and optimizer state cross segment boundaries
    tspipe::Pipeline<B> pipeline(model(7), model(7), loss, adamw, o);

    // By hand: FT reads ξ_{version(b)} (parameters swapped in from host copies), FS, the loss on
    // the batch, BS, OPT, then EMA on ξ_b and the buffer average.
    tspipe::nn::Sequential<B> teacher(model(7)), student(model(7));
    teacher.set_training(false);
    student.set_training(true);
    auto optimizer = adamw();
    std::map<long, std::map<std::string, std::vector<float>>> versions{{0, values_of(teacher.parameters())}};
    const auto load = [&](long r) {
      for (auto& p : teacher.parameters()) std::copy(versions.at(r).at(p.name).begin(), versions.at(r).at(p.name).end(), p.value->data());
    };
    std::vector<double> expected_losses;
    constexpr int kSteps = 5;
    for (long b = 0; b < kSteps; ++b) {
      const Batch batch = make_batch(kBatch, kFeatures, 1, kOutputs, 40 + b);
      pipeline.feed(batch.views);

      load(policy.version_read(b));
      const Tensor t_out = teacher.infer(batch.views[0]);
      auto [s_out, ctx] = student.forward(batch.views[0]);
      tspipe::nn::LossInput input;
      input.student.push_back(matrix(s_out));
      input.teacher.push_back(matrix(t_out));
      const auto out = loss->compute(input);
      expected_losses.push_back(out.loss);
      student.backward(ctx, Tensor::from(s_out.shape(), out.d_student[0]));
      auto student_slots = slots(student);
      optimizer->step(student_slots);
      student.zero_grad();
      load(b);
      std::vector<tspipe::nn::TeacherSlot> teacher_slots;
      for (auto& p : teacher.parameters()) teacher_slots.push_back({p.name, p.value->span()});
      tspipe::nn::momentum_teacher_update(teacher_slots, student_slots, static_cast<float>(kTau));
      auto student_buffers = student.buffers();
      for (auto& tb : teacher.buffers())
        for (auto& sb : student_buffers)
          if (tb.name == sb.name)
            for (int64_t i = 0; i < tb.value->numel(); ++i)
              (*tb.value)[i] = static_cast<float>(kTau) * (*tb.value)[i] + (1.0f - static_cast<float>(kTau)) * (*sb.value)[i];
      versions[b + 1] = values_of(teacher.parameters());
    }
    pipeline.flush();

    const auto losses = pipeline.take_losses();
    REQUIRE(losses.size() == expected_losses.size());
    for (std::size_t i = 0; i < losses.size(); ++i) {
      CHECK(losses[i].batch == static_cast<long>(i));
      CHECK(losses[i].loss == expected_losses[i]);  // exact: same operations, same order
    }
    CHECK(values_of(pipeline.student_parameters()) == values_of(student.parameters()));
    CHECK(values_of(pipeline.teacher_parameters()) == values_of(teacher.parameters()));
    CHECK(buffers_of(pipeline.stage(0).teacher) == buffers_of(teacher));
    CHECK(buffers_of(pipeline.stage(0).student) == buffers_of(student));
    CHECK(pipeline.stage(0).optimizer->export_state() == optimizer->export_state());
    // Every version the store still holds is the hand-kept copy of that version.
    const auto held = pipeline.teacher_versions_held();
    CHECK(held[0].size() == static_cast<std::size_t>(staleness + 1));
    for (long r : held[0]) {
      INFO("version ", r);
      pipeline.with_teacher_version(0, r, [&](auto& t) { CHECK(values_of(t.parameters()) == versions.at(r)); });
    }
  }
}
