// Long runs: the measured trace is a window of the most recent segments, the timing report keeps
// running sums that equal a rescan of every action, the cost model does not move unless asked,
// and nothing the stages keep outlives its segment.
#include <doctest/doctest.h>

#include "common.hpp"

#include <nlohmann/json.hpp>
#include <tspipe/sim/export.hpp>

#include <set>

using namespace test;
using namespace test::small_mlp;

namespace {

constexpr long kBatch = 8;

PipelineOptions options(bool ssl) {
  PipelineOptions o = mlp_options(2, 2, "tspipe", kBatch, kFeatures);
  if (ssl) {
    o.views = 2;
    o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1);
  }
  return o;
}

Pipeline<B> make_pipeline(const PipelineOptions& o) {
  const std::vector<int64_t> widths = student_widths();
  std::shared_ptr<const tspipe::nn::Loss> loss;
  if (o.views == 2) loss = std::make_shared<tspipe::nn::ByolLoss>();
  else loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>();
  return Pipeline<B>(mlp(widths, o.views == 2 ? 300 : 100, o.views == 2 ? "fc" : "t"), mlp(widths, 300), loss,
                     [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.01}); }, o);
}

void feed(Pipeline<B>& p, int from, int to) {
  const int views = p.options().views;
  for (int step = from; step < to; ++step) {
    const Batch batch = make_batch(kBatch, kFeatures, views, kClasses, 900 + static_cast<uint64_t>(step));
    p.feed(batch.views, views == 2 ? std::vector<int>{} : batch.labels);
  }
  p.flush();
}

std::size_t traced(const Pipeline<B>& p) {
  std::size_t n = 0;
  for (const auto& stage : p.trace()) n += stage.size();
  return n;
}

}  // namespace

TEST_CASE("the trace keeps the actions of the last trace_segments segments; the exports work from it") {
  PipelineOptions o = options(false);
  o.trace_segments = 2;
  Pipeline<B> p = make_pipeline(o);
  feed(p, 0, 10);  // five segments of two batches
  const auto one_segment = tspipe::planning::generate("tspipe", p.workload(2)).value().schedule.num_actions();
  CHECK(traced(p) == 2 * one_segment);
  std::set<int> batches;
  for (const auto& stage : p.trace())
    for (const auto& m : stage) batches.insert(m.action.batch);
  CHECK(batches == std::set<int>{6, 7, 8, 9});
  const auto json = nlohmann::json::parse(tspipe::sim::chrome_trace(p.trace_timeline(), "window", 1e6));
  std::size_t events = 0;
  for (const auto& e : json["traceEvents"]) events += e["ph"] == "X" ? 1 : 0;
  CHECK(events == traced(p));
  CHECK(p.timing_report().measured_time_per_batch > 0.0);

  for (const bool record : {false, true}) {
    PipelineOptions none = options(false);
    none.record_trace = record;
    none.trace_segments = 0;  // 0 keeps nothing either way
    Pipeline<B> q = make_pipeline(none);
    feed(q, 0, 4);
    CHECK(traced(q) == 0);
    CHECK(q.timing_report().measured_time_per_batch > 0.0);
    CHECK(q.timing_report().predicted_time_per_batch > 0.0);
  }
  PipelineOptions negative = options(false);
  negative.trace_segments = -1;
  CHECK_THROWS_WITH_AS(make_pipeline(negative), doctest::Contains("trace_segments = -1 must be ≥ 0"), tspipe::Error);
}

TEST_CASE("the timing report's running sums equal a rescan of every action of the run") {
  PipelineOptions o = options(true);
  o.trace_segments = 1000;  // keeps the whole run here, to rescan
  Pipeline<B> p = make_pipeline(o);
  constexpr int kBatches = 8;
  feed(p, 0, kBatches);
  double busy = 0.0;
  std::size_t actions = 0;
  for (const auto& stage : p.trace())
    for (const auto& m : stage) {
      busy += m.end - m.start;
      ++actions;
    }
  // Every segment has the same workload (two batches, no warm-up): one plan for all.
  const auto generated = tspipe::planning::generate("tspipe", p.workload(2)).value();
  auto compute_only = generated.workload;
  compute_only.costs.per_action_overhead = 0.0;
  const double modelled = tspipe::sim::serial_time_per_batch(compute_only) * kBatches;
  const auto report = p.timing_report();
  CHECK(report.mean_action_overhead == doctest::Approx(std::max(0.0, busy - modelled) / static_cast<double>(actions)).epsilon(1e-9));
  const double makespan = tspipe::sim::simulate(generated.schedule, generated.workload).value().makespan;
  CHECK(report.predicted_time_per_batch == doctest::Approx(makespan / 2.0).epsilon(1e-12));
}

TEST_CASE("the cost model is fixed for a run unless calibrate_costs asks to follow the measured overhead") {
  PipelineOptions o = options(false);
  o.choose_micro_batches = o.choose_split = true;
  Pipeline<B> fixed = make_pipeline(o);
  const auto costs = fixed.profiled_costs();
  feed(fixed, 0, 8);
  CHECK(same_costs(fixed.profiled_costs(), costs));

  o.calibrate_costs = true;
  Pipeline<B> calibrated = make_pipeline(o);
  feed(calibrated, 0, 8);
  CHECK(calibrated.profiled_costs().per_action_overhead == calibrated.timing_report().mean_action_overhead);
  // Every process of a distributed launch must plan alike: calibration is refused there.
  Pipeline<B>::Distribution distribution;
  distribution.transport = std::make_shared<tspipe::runtime::InProcessTransport<Tensor>>(2, 64);
  CHECK_THROWS_WITH_AS(calibrated.set_distribution(distribution), doctest::Contains("calibrate_costs"), tspipe::Error);
}

TEST_CASE("nothing a pipeline keeps grows with the batches trained (losses taken)") {
  for (const auto dispatch : {tspipe::runtime::Dispatch::in_order, tspipe::runtime::Dispatch::dynamic}) {
    CAPTURE(static_cast<int>(dispatch));
    PipelineOptions o = options(true);
    o.dispatch = dispatch;
    o.trace_segments = 3;
    Pipeline<B> p = make_pipeline(o);
    struct Held {
      std::size_t trace = 0, versions = 0, optimizer = 0;
      bool operator==(const Held&) const = default;
    };
    const auto held = [&] {
      Held h{traced(p), 0, 0};
      for (int s = 0; s < p.stages(); ++s) {
        auto& st = p.stage(s);
        CHECK(st.contexts.empty());
        CHECK(st.weight_grad_inputs.empty());
        CHECK(st.backward_done.empty());
        CHECK(st.student_outputs.empty());
        CHECK(st.teacher_outputs.empty());
        CHECK(st.loss_gradients.empty());
        CHECK(st.versions.held().size() <= static_cast<std::size_t>(st.versions.capacity()));
        h.versions += st.versions.saved().size();
        h.optimizer += st.optimizer->export_state().size();
      }
      return h;
    };
    feed(p, 0, 10);
    CHECK(p.take_losses().size() == 10);
    const Held early = held();
    feed(p, 10, 40);
    CHECK(p.take_losses().size() == 30);
    CHECK(held() == early);
  }
}
