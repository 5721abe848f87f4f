// Virtual stages in the runtime: v model chunks per device (interleaved or V-shaped) train exactly
// as one device does — KD with a frozen teacher, SSL with a momentum teacher at δ = 0 and δ = 1 —
// under the interleaved-1f1b, zbv and tspipe schedules, with a whole-batch or per-micro-batch loss
// and either dispatch; the order the workers ran is a valid schedule; a checkpoint resumes bit for
// bit; and what cannot run (bad options, another v in a checkpoint, a distributed launch) is
// refused by name.
#include <doctest/doctest.h>

#include "common.hpp"
#include "reference_checks.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

using namespace test;
using namespace test::small_mlp;
using tspipe::LossGranularity;
using tspipe::schedule::ChunkPlacement;

namespace {

constexpr long kBatch = 7;  // uneven micro-batches: 4 + 3 at M = 2, 3 + 2 + 2 at M = 3
constexpr int kSteps = 5;

// Six blocks each: enough for S·v = 6 logical stages (S = 2, v = 3 or S = 3, v = 2).
std::vector<int64_t> six_block_student() { return {kFeatures, 10, 10, 9, 9, 8, kClasses}; }
std::vector<int64_t> six_block_teacher() { return {kFeatures, 12, 12, 12, 11, 11, kClasses}; }

/// S devices with v chunks each, one block per logical stage from the front (explicit cuts:
/// logical stage l starts at block l), the rest of the blocks on the last logical stage.
PipelineOptions chunked(int devices, int chunks, ChunkPlacement placement, int micro_batches, const std::string& schedule) {
  PipelineOptions o = mlp_options(devices * chunks, micro_batches, schedule, kBatch, kFeatures);
  o.stages = devices;
  o.chunks = chunks;
  o.chunk_placement = placement;
  return o;
}

/// SSL as the runtime's staleness tests run it: two views, MSE, a momentum teacher (τ = 0.9) at
/// staleness δ that starts as a copy of the student.
PipelineOptions ssl(PipelineOptions o, int staleness) {
  o.views = 2;
  o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, staleness);
  return o;
}

struct Models {
  Blocks teacher, student;
  std::shared_ptr<const tspipe::nn::Loss> loss;
};
Models models(const PipelineOptions& o, uint64_t seed = 0) {
  if (o.teacher.is_momentum())
    return {mlp(six_block_student(), 300 + seed), mlp(six_block_student(), 300 + seed), std::make_shared<tspipe::nn::MseLoss>()};
  return {mlp(six_block_teacher(), 100 + seed, "t"), mlp(six_block_student(), 200 + seed), std::make_shared<tspipe::nn::SoftTargetKDLoss>(4.0, 0.5)};
}

std::unique_ptr<Pipeline<B>> build(const PipelineOptions& o, uint64_t seed = 0) {
  Models m = models(o, seed);
  return std::make_unique<Pipeline<B>>(std::move(m.teacher), std::move(m.student), m.loss, sgd(), o);
}

Batch batch_of(const PipelineOptions& o, int step) { return make_batch(kBatch, kFeatures, o.views, kClasses, 40 + static_cast<uint64_t>(step)); }

/// What a run leaves to check: the order the workers ran and the schedule they were given.
struct Run {
  tspipe::MeasuredTrace trace;
  tspipe::schedule::Generated planned;
};

/// Trains kSteps batches in one segment through a pipeline built with `o` and, independently, on
/// one device (ReferenceTrainer). Every loss, the student and every teacher version a logical
/// stage still holds must agree with the reference's.
Run check_against_single_device(const PipelineOptions& options) {
  PipelineOptions o = options;
  o.segment_batches = kSteps;  // one segment: the trace is one schedule
  Models m = models(o);
  ReferenceTrainer ref{as_model(models(o).teacher), as_model(models(o).student), m.loss, sgd()(), o.teacher};
  ref.teacher.set_training(false);
  Pipeline<B> pipeline(std::move(m.teacher), std::move(m.student), m.loss, sgd(), o);
  REQUIRE(pipeline.stages() == o.stages * o.chunks);
  REQUIRE(pipeline.devices() == o.stages);
  std::vector<double> expected;
  for (int step = 0; step < kSteps; ++step) {
    const Batch batch = batch_of(o, step);
    pipeline.feed(batch.views, o.teacher.is_momentum() ? std::vector<int>{} : batch.labels);
    expected.push_back(ref.train(batch, 0.9));
  }
  check_losses_and_student(pipeline, expected, ref);
  if (o.teacher.is_momentum()) {
    // Every logical stage holds ξ_N and, at δ = 1, ξ_{N−1} beside it, each the reference's.
    const std::vector<long> newest = o.teacher.staleness == 1 ? std::vector<long>{kSteps - 1, kSteps} : std::vector<long>{kSteps};
    CHECK(pipeline.teacher_versions_held() == std::vector<std::vector<long>>(static_cast<std::size_t>(pipeline.stages()), newest));
    CHECK(worst_held_teacher_version(pipeline, ref) < 1e-5);
  }
  // The schedule the pipeline ran (generation is deterministic in the workload and costs).
  return {pipeline.trace(), tspipe::planning::generate(o.schedule, pipeline.workload(kSteps)).value()};
}

/// The worker of device j ran only its own logical stages' actions, every logical stage ran, and
/// the order the workers really ran is itself a valid schedule of the planned workload.
void check_ran_as_placed(const Run& run) {
  const tspipe::schedule::Workload& w = run.planned.workload;
  REQUIRE(run.trace.size() == static_cast<std::size_t>(w.stages));
  tspipe::schedule::Schedule ran;
  std::set<int> stages_run;
  for (std::size_t j = 0; j < run.trace.size(); ++j) {
    ran.devices.emplace_back();
    for (const auto& m : run.trace[j]) {
      CHECK(tspipe::schedule::device_of(w, m.action) == static_cast<int>(j));
      stages_run.insert(m.action.stage);
      ran.devices.back().push_back(m.action);
    }
  }
  CHECK(stages_run.size() == static_cast<std::size_t>(w.logical_stages()));
  const auto violations = tspipe::schedule::validate(ran, w, 3);
  CHECK_MESSAGE(violations.empty(), (violations.empty() ? "" : tspipe::schedule::to_string(violations.front())));
}

struct Case {
  const char* schedule;
  int devices, chunks;
  ChunkPlacement placement;
  int micro_batches;
};
// v = 2 and 3 interleaved, v = 2 in a V; the tspipe search at each.
const Case kCases[] = {
    {"interleaved-1f1b", 2, 2, ChunkPlacement::interleaved, 2}, {"interleaved-1f1b", 2, 3, ChunkPlacement::interleaved, 3},
    {"interleaved-1f1b", 3, 2, ChunkPlacement::interleaved, 3}, {"zbv", 2, 2, ChunkPlacement::v_shape, 2},
    {"zbv", 3, 2, ChunkPlacement::v_shape, 2},                 {"tspipe", 2, 2, ChunkPlacement::interleaved, 2},
    {"tspipe", 2, 3, ChunkPlacement::interleaved, 2},           {"tspipe", 2, 2, ChunkPlacement::v_shape, 3},
};

std::filesystem::path scratch(const std::string& name) { return scratch_file("virtual_stages", name); }

}  // namespace

TEST_CASE("KD with virtual stages equals single-device training: v = 2, 3 interleaved and v = 2 in a V, whole-batch and per-micro-batch loss") {
  for (const Case& c : kCases)
    for (const auto granularity : {LossGranularity::whole_batch, LossGranularity::micro_batch}) {
      INFO(c.schedule, " S=", c.devices, " v=", c.chunks, " ", tspipe::schedule::to_string(c.placement), " M=", c.micro_batches, " loss ",
           tspipe::to_string(granularity));
      PipelineOptions o = chunked(c.devices, c.chunks, c.placement, c.micro_batches, c.schedule);
      o.loss_granularity = granularity;
      const Run run = check_against_single_device(o);
      CHECK(run.planned.workload.chunks == c.chunks);
      CHECK(run.planned.workload.per_micro_batch_loss == (granularity == LossGranularity::micro_batch));
      check_ran_as_placed(run);
    }
}

TEST_CASE("SSL with virtual stages: δ = 0 is sequential training and δ = 1 reads ξ_{b−1} of the EMA trajectory, teacher versions too") {
  for (const Case& c : kCases)
    for (int staleness : {0, 1})
      for (const auto granularity : {LossGranularity::whole_batch, LossGranularity::micro_batch}) {
        INFO(c.schedule, " S=", c.devices, " v=", c.chunks, " ", tspipe::schedule::to_string(c.placement), " M=", c.micro_batches,
             " δ=", staleness, " loss ", tspipe::to_string(granularity));
        PipelineOptions o = ssl(chunked(c.devices, c.chunks, c.placement, c.micro_batches, c.schedule), staleness);
        o.loss_granularity = granularity;
        check_ran_as_placed(check_against_single_device(o));
      }
}

TEST_CASE("virtual stages with the BI/BW split, automatic partitioning and dynamic dispatch stay exact; the run order validates") {
  using tspipe::runtime::Dispatch;
  for (const auto dispatch : {Dispatch::in_order, Dispatch::dynamic})
    for (const bool momentum : {false, true}) {
      INFO("dynamic: ", dispatch == Dispatch::dynamic, " SSL: ", momentum);
      PipelineOptions o = chunked(2, 2, ChunkPlacement::v_shape, 3, "zbv");
      o.split = tspipe::schedule::BackwardSplit::input_weight;
      o.dispatch = dispatch;
      o.teacher_cuts.clear();  // the partitioner balances 4 logical stages
      o.student_cuts.clear();
      if (momentum) o = ssl(o, 1);
      const Run run = check_against_single_device(o);
      CHECK(run.planned.workload.split == tspipe::schedule::BackwardSplit::input_weight);
      check_ran_as_placed(run);
    }
  PipelineOptions o = chunked(2, 3, ChunkPlacement::interleaved, 2, "interleaved-1f1b");
  o.dispatch = Dispatch::dynamic;
  check_ran_as_placed(check_against_single_device(o));
}

TEST_CASE("virtual stages: a pipeline has S·v logical stages, partitioned and costed per logical stage") {
  PipelineOptions o = chunked(2, 3, ChunkPlacement::interleaved, 2, "tspipe");
  o.teacher_cuts.clear();
  o.student_cuts.clear();
  const auto pipeline = build(o);
  CHECK(pipeline->stages() == 6);
  CHECK(pipeline->devices() == 2);
  CHECK(pipeline->partition().stages() == 6);
  CHECK(pipeline->profiled_costs().stages.size() == 6);
  const tspipe::schedule::Workload w = pipeline->workload(2);
  CHECK(w.stages == 2);
  CHECK(w.chunks == 3);
  CHECK(w.logical_stages() == 6);
  CHECK(w.chunk_placement == ChunkPlacement::interleaved);
  CHECK_FALSE(w.choose_chunks);
}

TEST_CASE("bad virtual-stage options are refused by name") {
  const auto refused = [](PipelineOptions o, const std::string& why) {
    INFO(why);
    CHECK_THROWS_WITH_AS(build(o), doctest::Contains(why.c_str()), tspipe::Error);
  };
  PipelineOptions o = chunked(2, 2, ChunkPlacement::interleaved, 2, "interleaved-1f1b");
  o.chunks = 0;
  refused(o, "chunks = 0 must be at least 1");
  refused(chunked(2, 3, ChunkPlacement::v_shape, 2, "tspipe"), "chunk_placement = v-shape holds 2 chunks per device, got chunks = 3");
  // Every chunk needs a block of teacher and of student: 4 devices × 2 chunks > 6 blocks.
  o = chunked(4, 2, ChunkPlacement::interleaved, 2, "interleaved-1f1b");
  o.teacher_cuts.clear();
  o.student_cuts.clear();
  refused(o, "4 stages × 2 chunks but the teacher has 6 and the student 6 blocks (every chunk needs at least one of each)");
  refused(chunked(2, 2, ChunkPlacement::interleaved, 2, "1f1b"), "chunks = 2, but the 1f1b schedule runs one chunk per device");
  refused(chunked(2, 2, ChunkPlacement::interleaved, 1, "gpipe"), "the gpipe schedule runs one chunk per device");
  refused(chunked(2, 1, ChunkPlacement::interleaved, 2, "zbv"), "the zbv schedule runs virtual stages: set chunks ≥ 2");
  refused(chunked(2, 1, ChunkPlacement::interleaved, 2, "interleaved-1f1b"), "the interleaved-1f1b schedule runs virtual stages");
  refused(chunked(2, 2, ChunkPlacement::interleaved, 2, "zbv"), "the zbv schedule places 2 chunks per device in a V");
  refused(chunked(2, 2, ChunkPlacement::v_shape, 2, "interleaved-1f1b"), "the interleaved-1f1b schedule places chunks interleaved");
  o = chunked(2, 2, ChunkPlacement::interleaved, 2, "interleaved-1f1b");
  o.chunks = 3000;
  refused(o, "2 stages × chunks = 3000 exceed the 4096 logical stages");
  // Cuts are per logical stage: S − 1 of them do not cut S·v stages.
  o = chunked(2, 2, ChunkPlacement::interleaved, 2, "interleaved-1f1b");
  o.teacher_cuts = o.student_cuts = {3};
  refused(o, "4 stages need 3 cut points, got 1");
}

TEST_CASE("virtual stages refuse a distributed launch by name; the pipeline still trains and saves in this process") {
  const auto pipeline = build(chunked(2, 2, ChunkPlacement::interleaved, 2, "interleaved-1f1b"));
  const std::string why = "chunks = 2: virtual stages run only with every device in this process";
  tspipe::Distribution<Tensor> split_up;
  split_up.local_stages = {0, 1};
  CHECK_THROWS_WITH_AS(pipeline->set_distribution(split_up), doctest::Contains(why.c_str()), tspipe::Error);
  tspipe::Distribution<Tensor> replicas;  // data parallel: averaging a stage's gradients over processes
  replicas.reduce_gradients = [](int, const std::vector<tspipe::nn::ParamSlot>&) {};
  CHECK_THROWS_WITH_AS(pipeline->set_distribution(replicas), doctest::Contains(why.c_str()), tspipe::Error);
  tspipe::Distribution<Tensor> shared_transport;
  shared_transport.transport = std::make_shared<tspipe::runtime::InProcessTransport<Tensor>>(4, 64);
  CHECK_THROWS_WITH_AS(pipeline->set_distribution(shared_transport), doctest::Contains(why.c_str()), tspipe::Error);
  CHECK_NOTHROW(pipeline->set_distribution({}));  // the default: every stage here
  const Batch batch = batch_of(pipeline->options(), 0);
  pipeline->feed(batch.views, batch.labels);
  pipeline->flush();
  CHECK(pipeline->take_losses().size() == 1);

  // A checkpoint hook alone spreads nothing: it adds to what this process saves (the examples
  // put their run state in the file this way), and the file it shapes loads back.
  tspipe::Distribution<Tensor> add_to_checkpoint;
  int calls = 0;
  add_to_checkpoint.gather_checkpoint = [&calls](tspipe::nn::SafetensorsContent& content) {
    ++calls;
    content.metadata["test.note"] = "added by the hook";
    return true;
  };
  REQUIRE_NOTHROW(pipeline->set_distribution(add_to_checkpoint));
  const auto path = scratch("hook_only.safetensors");
  pipeline->save(path);
  CHECK(calls == 1);
  const auto saved = tspipe::nn::load_safetensors(path, tspipe::nn::Checksums::required);
  CHECK(saved.metadata.at("test.note") == "added by the hook");
  CHECK(saved.metadata.at("plan.chunks") == "2");
  const auto reloaded = build(chunked(2, 2, ChunkPlacement::interleaved, 2, "interleaved-1f1b"));
  CHECK_NOTHROW(reloaded->load(path));
}

TEST_CASE("resume with virtual stages: the plan records v and placement; later losses, weights and teacher versions are bit-identical") {
  for (const bool momentum : {false, true}) {
    CAPTURE(momentum);
    PipelineOptions o = chunked(2, 2, ChunkPlacement::v_shape, 2, momentum ? "tspipe" : "zbv");
    o.segment_batches = 2;
    if (momentum) o = ssl(o, 1);
    const auto train = [&](Pipeline<B>& pipeline, int from, int to) {
      return train_range(pipeline, from, to, [&](int step) { return batch_of(o, step); }, !momentum);
    };
    constexpr int kSaveAt = 4, kEnd = 8;  // at a segment boundary: the same segments as one run
    const auto uninterrupted = build(o);
    const auto costs = uninterrupted->profiled_costs();
    const auto all = train(*uninterrupted, 0, kEnd);

    const auto path = scratch(momentum ? "resume_ssl.safetensors" : "resume_kd.safetensors");
    {
      const auto first = build(o);
      first->set_profiled_costs(costs);  // one plan for both runs: profiles differ from run to run
      train(*first, 0, kSaveAt);
      first->save(path);
    }
    const auto metadata = tspipe::nn::load_safetensors(path).metadata;
    CHECK(metadata.at("plan.chunks") == "2");
    CHECK(metadata.at("plan.chunk_placement") == "v-shape");
    const auto resumed = build(o, 50);  // other initial weights: everything must come from the file
    resumed->load(path);
    CHECK(resumed->batches_fed() == kSaveAt);
    CHECK(same_costs(resumed->profiled_costs(), costs));
    const auto later = train(*resumed, kSaveAt, kEnd);
    CHECK(later.size() == static_cast<std::size_t>(kEnd - kSaveAt));
    const std::string difference = resume_difference(*resumed, later, *uninterrupted, all);
    CHECK_MESSAGE(difference.empty(), difference);
  }
}

TEST_CASE("a checkpoint of another v or placement is refused by name and changes nothing; a v = 1 checkpoint without the keys loads") {
  const auto saved = [](const PipelineOptions& o, const std::string& name) {
    const auto pipeline = build(o);
    const Batch batch = batch_of(o, 0);
    pipeline->feed(batch.views, batch.labels);
    pipeline->save(scratch(name));
    return scratch(name);
  };
  PipelineOptions two_chunks = chunked(2, 2, ChunkPlacement::interleaved, 2, "interleaved-1f1b");
  PipelineOptions one_chunk = chunked(4, 1, ChunkPlacement::interleaved, 2, "1f1b");  // the same 4 logical stages
  PipelineOptions in_a_v = chunked(2, 2, ChunkPlacement::v_shape, 2, "zbv");
  const auto chunked_path = saved(two_chunks, "two_chunks.safetensors");
  const auto plain_path = saved(one_chunk, "one_chunk.safetensors");

  const auto unchanged_after = [](Pipeline<B>& target, const std::filesystem::path& path, const std::string& why) {
    INFO(why);
    const auto before = values_of(target.student_parameters());
    CHECK_THROWS_WITH_AS(target.load(path), doctest::Contains(why.c_str()), tspipe::Error);
    CHECK(target.batches_fed() == 0);
    CHECK(values_of(target.student_parameters()) == before);
  };
  const auto plain = build(one_chunk, 7);
  unchanged_after(*plain, chunked_path, "it was saved with plan.chunks = '2' chunks per device, this pipeline runs 1");
  const auto interleaved = build(two_chunks, 7);
  unchanged_after(*interleaved, plain_path, "it was saved with plan.chunks = '1' chunks per device, this pipeline runs 2");
  const auto v_shaped = build(in_a_v, 7);
  unchanged_after(*v_shaped, chunked_path, "it was saved with plan.chunk_placement = 'interleaved'");

  // A checkpoint written before virtual stages has no chunk keys: it is a v = 1 checkpoint.
  tspipe::nn::SafetensorsContent content = tspipe::nn::load_safetensors(plain_path);
  content.metadata.erase("plan.chunks");
  content.metadata.erase("plan.chunk_placement");
  tspipe::nn::save_safetensors(plain_path, content);
  plain->load(plain_path);
  CHECK(plain->batches_fed() == 1);
  unchanged_after(*interleaved, plain_path, "it was saved with plan.chunks = '1' chunks per device, this pipeline runs 2");
  // Loading the right v works and restores the weights exactly.
  interleaved->load(chunked_path);
  CHECK(interleaved->batches_fed() == 1);
}
