// Runtime benchmark (targets in bench/RESULTS.md):
// S = 2 stages, one worker thread per stage, OpenBLAS single-threaded. For a KD and an SSL
// workload, every generator's measured examples/s, printed beside the simulator's prediction from
// the profiled per-block costs, in one run; then in-order against dynamic dispatch when the real
// costs stray from the profiled ones; then the runtime's own overhead per action on a model whose
// compute is negligible.
#include "../common/mlp_blocks.hpp"

#include <tspipe/cpu/backend.hpp>
#include <tspipe/pipeline.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>

using B = tspipe::cpu::Backend;
using tspipe::nn::Tensor;

namespace {

/// Time the profile never saw: once armed, every call spins (busy, as compute would) for a random
/// time in [0, 2·mean_ms], so real costs vary from action to action around a shifted mean.
class Drag final : public tspipe::nn::Layer<B> {
 public:
  static inline std::atomic<bool> armed{false};
  Drag(double mean_ms, std::uint64_t seed) : mean_ms_(mean_ms), rng_(seed) {}
  std::string kind() const override { return "Drag"; }
  Tensor infer(const Tensor& x) override { return spin(x); }
  std::pair<Tensor, tspipe::nn::Context<B>> forward(const Tensor& x) override { return {spin(x), {}}; }
  Tensor backward(tspipe::nn::Context<B>&, const Tensor& dy) override { return spin(dy); }

 private:
  Tensor spin(const Tensor& x) {
    if (!armed.load(std::memory_order_relaxed) || mean_ms_ <= 0) return x;
    const double ms = std::uniform_real_distribution<double>(0.0, 2.0 * mean_ms_)(rng_);
    const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double, std::milli>(ms);
    while (std::chrono::steady_clock::now() < until) {
    }
    return x;
  }
  double mean_ms_;
  std::mt19937_64 rng_;
};

/// The benchmarks' MLP (bench/common/mlp_blocks.hpp), each block i followed by a Drag of
/// drag_ms[i] (if any).
std::vector<tspipe::nn::LayerPtr<B>> mlp(const std::vector<int64_t>& widths, uint64_t seed, const std::string& prefix,
                                         const std::vector<double>& drag_ms = {}) {
  return tspipe::bench::mlp_blocks(widths, seed, prefix, [&](std::size_t i, const std::string& name, tspipe::nn::Sequential<B>& block) {
    if (i < drag_ms.size() && drag_ms[i] > 0) block.add(name + "_drag", std::make_unique<Drag>(drag_ms[i], seed * 131 + i));
  });
}

struct Setup {
  std::string schedule;
  bool ssl = false;
  int micro_batches = 4;
  long batch = 256;
  int hidden = 512;
  int batches = 8;
  tspipe::runtime::Dispatch dispatch = tspipe::runtime::Dispatch::in_order;
  std::vector<double> teacher_drag_ms, student_drag_ms;  ///< per block, unseen by the profile
};

struct Row {
  double examples_per_second = 0, predicted_examples_per_second = 0;
  int micro_batches = 0;
  std::string split;
};

Row run(const Setup& setup) {
  const long batch = setup.batch;
  const int hidden = setup.hidden, batches = setup.batches;
  const bool ssl = setup.ssl;
  tspipe::PipelineOptions o;
  o.stages = 2;
  o.micro_batches = setup.schedule == "sequential" || setup.schedule == "tspipe-paper" ? 1 : setup.micro_batches;
  o.schedule = setup.schedule;
  o.batch_size = batch;
  o.input_shape = {hidden};
  o.views = ssl ? 2 : 1;
  o.segment_batches = batches;
  o.dispatch = setup.dispatch;
  // tspipe plans M and the backward split from the profiled costs (the others run as given).
  o.choose_micro_batches = o.choose_split = setup.schedule == "tspipe";
  if (ssl) o.teacher = tspipe::update::TeacherPolicy::momentum(0.99, 1);
  const std::vector<int64_t> student = {hidden, hidden, hidden, hidden, hidden, 64};
  const std::vector<int64_t> teacher = ssl ? student : std::vector<int64_t>{hidden, 2 * hidden, 2 * hidden, 2 * hidden, 2 * hidden, 64};
  std::shared_ptr<const tspipe::nn::Loss> loss;
  if (ssl) loss = std::make_shared<tspipe::nn::ByolLoss>();
  else loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>();
  Drag::armed = false;  // the profile sees the model without the drag
  tspipe::Pipeline<B> pipeline(mlp(teacher, 1, ssl ? "s" : "t", setup.teacher_drag_ms), mlp(student, 2, "s", setup.student_drag_ms), loss,
                               [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 1e-3}); }, o);
  Drag::armed = true;
  std::vector<Tensor> views;
  for (int v = 0; v < o.views; ++v) views.push_back(Tensor::randn({batch, hidden}, 10 + static_cast<uint64_t>(v)));
  std::vector<int> labels(static_cast<std::size_t>(batch));
  for (long i = 0; i < batch; ++i) labels[static_cast<std::size_t>(i)] = static_cast<int>(i % 64);
  // One warm-up segment (allocator, caches), then the measured ones.
  for (int b = 0; b < batches; ++b) pipeline.feed(views, labels);
  pipeline.flush();
  const auto warm = pipeline.timing_report();
  const auto start = std::chrono::steady_clock::now();
  for (int b = 0; b < 2 * batches; ++b) pipeline.feed(views, labels);
  pipeline.flush();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  Drag::armed = false;
  const auto all = pipeline.timing_report();
  // The report accumulates over segments: take the measured ones' share of the prediction.
  const double predicted = (all.predicted_time_per_batch * 3 * batches - warm.predicted_time_per_batch * batches) / (2 * batches);
  auto chosen = tspipe::planning::generate(setup.schedule, pipeline.workload(batches));
  return {static_cast<double>(2 * batches * batch) / elapsed, static_cast<double>(batch) / predicted,
          chosen ? chosen.value().workload.micro_batches : 0,
          chosen ? std::string(tspipe::schedule::to_string(chosen.value().workload.split)) : "?"};
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int hidden = argc > 1 ? std::atoi(argv[1]) : 512;
  const long batch = argc > 2 ? std::atol(argv[2]) : 256;
  const int batches = argc > 3 ? std::atoi(argv[3]) : 8;
  const int micro_batches = argc > 4 ? std::atoi(argv[4]) : 4;
  B::set_threads(1);
  std::printf("S = 2, one thread per stage, OpenBLAS 1 thread; MLP width %d, batch %ld, M = %d (1 for sequential and "
              "tspipe-paper), %d-batch segments\n\n",
              hidden, batch, micro_batches, batches);
  for (bool ssl : {false, true}) {
    std::printf("%s workload\n%-13s %4s %-13s %14s %14s %10s %12s\n", ssl ? "SSL (BYOL, momentum teacher, δ = 1, 2 views)" : "KD (teacher 4x the student)",
                "schedule", "M", "split", "examples/s", "predicted", "meas/pred", "vs seq");
    double sequential = 0;
    for (const char* name : {"sequential", "gpipe", "1f1b", "tspipe-paper", "tspipe"}) {
      Setup setup;
      setup.schedule = name;
      setup.ssl = ssl;
      setup.micro_batches = micro_batches;
      setup.batch = batch;
      setup.hidden = hidden;
      setup.batches = batches;
      const Row row = run(setup);
      if (std::string(name) == "sequential") sequential = row.examples_per_second;
      std::printf("%-13s %4d %-13s %14.1f %14.1f %10.3f %11.2fx\n", name, row.micro_batches, row.split.c_str(), row.examples_per_second, row.predicted_examples_per_second,
                  row.examples_per_second / row.predicted_examples_per_second, row.examples_per_second / sequential);
    }
    std::printf("\n");
  }

  // Dispatch: the tspipe schedule planned from the profile, run in order or dynamically, when the
  // real costs vary from the profile. Each pair runs interleaved, three times; medians printed.
  {
    const double per_block = 0.5 * 4.0 / micro_batches;  // ms of drag per block and micro-batch, mean
    struct Scenario {
      const char* what;
      std::vector<double> teacher_ms, student_ms;
    };
    const std::vector<double> none, everywhere(5, per_block);
    const std::vector<double> last_student_stage = {0, 0, 0, 4 * per_block, 4 * per_block};
    const Scenario scenarios[] = {
        {"as profiled", none, none},
        {"random extra time on every block", everywhere, everywhere},
        {"student's last blocks slower than profiled", none, last_student_stage},
    };
    std::printf("dispatch: tspipe schedule, in-order vs dynamic (median of 3 interleaved runs, examples/s)\n%-45s %-4s %12s %12s %10s\n",
                "real costs", "", "in-order", "dynamic", "dyn/in-ord");
    for (bool ssl : {false, true})
      for (const Scenario& sc : scenarios) {
        std::vector<double> in_order, dynamic;
        for (int rep = 0; rep < 3; ++rep)
          for (auto mode : {tspipe::runtime::Dispatch::in_order, tspipe::runtime::Dispatch::dynamic}) {
            const Row row = run({.schedule = "tspipe", .ssl = ssl, .micro_batches = micro_batches, .batch = batch,
                                 .hidden = hidden, .batches = batches, .dispatch = mode, .teacher_drag_ms = sc.teacher_ms,
                                 .student_drag_ms = sc.student_ms});
            (mode == tspipe::runtime::Dispatch::in_order ? in_order : dynamic).push_back(row.examples_per_second);
          }
        std::printf("%-45s %-4s %12.1f %12.1f %10.3f\n", sc.what, ssl ? "SSL" : "KD", median(in_order), median(dynamic),
                    median(dynamic) / median(in_order));
      }
    std::printf("\n");
  }

  // Overhead: a model of 1×1 linears on 2 rows does no measurable compute; whatever time a
  // segment takes beyond its (tiny) profiled costs is the runtime's: scheduling, hand-offs,
  // context bookkeeping, wake-ups.
  {
    tspipe::PipelineOptions o;
    o.stages = 2;
    o.micro_batches = 8;
    o.schedule = "gpipe";
    o.batch_size = 8;
    o.input_shape = {1};
    o.segment_batches = 16;
    o.record_trace = true;
    tspipe::Pipeline<B> pipeline(mlp({1, 1, 1}, 1, "t"), mlp({1, 1, 1}, 2, "s"), std::make_shared<tspipe::nn::MseLoss>(),
                                 [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0}); }, o);
    const Tensor x = Tensor::randn({8, 1}, 3);
    const auto start = std::chrono::steady_clock::now();
    constexpr int kBatches = 160;
    for (int b = 0; b < kBatches; ++b) pipeline.feed({x});
    pipeline.flush();
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::size_t actions = 0;
    for (const auto& device : pipeline.trace()) actions += device.size();
    std::printf("runtime overhead: %zu actions on 2 workers in %.3f s = %.1f us per action per worker (wall), "
                "mean action duration beyond profiled cost %.1f us\n",
                actions, elapsed, 2e6 * elapsed / static_cast<double>(actions), 1e6 * pipeline.timing_report().mean_action_overhead);
  }
  return 0;
}
