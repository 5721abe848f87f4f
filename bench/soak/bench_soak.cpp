// Soak benchmark: a long run must hold flat memory and a flat cost per batch. A small two-stage
// pipeline (a tiny MLP on the CPU backend, batch 4, M = 2, default options otherwise) is fed
// 1 000 000 batches, its losses taken as they arrive, for KD and SSL under in-order and dynamic
// dispatch in turn. At 1 %, 10 % and 100 % of each run it prints the resident memory (from
// /proc/self/statm) and the time per 1000 batches (the median of the last blocks of 1000 batches
// before that point), then the ratios late/early (100 % over 1 %). Target: both ≤ 1.05. The
// marks lie minutes apart, so the time ratio is also measured side by side: blocks of the soaked
// pipeline alternating with blocks of one of the same configuration that has trained 1 % of the
// run. Time is given as wall-clock and as the process's CPU time (all threads): on a shared
// machine the wall-clock time also measures the neighbours' load, the CPU time much less so.
//
//   bench_soak [--batches N] [--config all|kd-in-order|kd-dynamic|ssl-in-order|ssl-dynamic]
//
// Each configuration runs in turn in this process; run one per process (--config) to keep one
// configuration's freed memory out of the next one's figures.
#include "../common/mlp_blocks.hpp"

#include <tspipe/cpu/backend.hpp>
#include <tspipe/pipeline.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <time.h>
#include <unistd.h>

using B = tspipe::cpu::Backend;
using tspipe::bench::mlp_blocks;
using tspipe::nn::Tensor;

namespace {

constexpr long kBatch = 4;
constexpr int kFeatures = 8, kClasses = 4;
constexpr long kBlock = 1000;        // batches per timed block
constexpr std::size_t kMedianOf = 9;   // blocks whose median is the time at a mark
constexpr std::size_t kRounds = 21;    // alternating pairs of blocks, late and early, side by side

struct Config {
  std::string name;
  bool ssl = false;
  tspipe::runtime::Dispatch dispatch = tspipe::runtime::Dispatch::in_order;
};

double resident_mib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return static_cast<double>(resident) * static_cast<double>(::sysconf(_SC_PAGESIZE)) / (1024.0 * 1024.0);
}

double cpu_seconds() {
  timespec t{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

std::string load_average() {
  std::ifstream loadavg("/proc/loadavg");
  std::string one;
  loadavg >> one;
  return one;
}

struct Mark {
  long batches = 0;
  double resident = 0.0;
  double wall_per_block = 0.0;
  double cpu_per_block = 0.0;
};

double median_of_last(const std::vector<double>& blocks) {
  const std::size_t n = std::min(kMedianOf, blocks.size());
  std::vector<double> last(blocks.end() - static_cast<std::ptrdiff_t>(n), blocks.end());
  std::sort(last.begin(), last.end());
  return last[n / 2];
}

/// One pipeline of a configuration, fed from a pool of batches (the data costs nothing per batch)
/// in blocks of 1000, its losses taken as they arrive.
class Soaked {
 public:
  explicit Soaked(const Config& config) : ssl_(config.ssl), pipeline_(build(config)) {
    for (std::size_t i = 0; i < pool_.size(); ++i) {
      for (int v = 0; v < pipeline_.options().views; ++v)
        pool_[i].views.push_back(Tensor::randn({kBatch, kFeatures}, 100 * i + static_cast<uint64_t>(v)));
      if (!ssl_)
        for (long r = 0; r < kBatch; ++r) pool_[i].labels.push_back(static_cast<int>((i + static_cast<std::size_t>(r)) % kClasses));
    }
  }

  /// Feeds 1000 batches; returns their wall-clock and CPU seconds.
  std::pair<double, double> block() {
    const auto wall = std::chrono::steady_clock::now();
    const double cpu = cpu_seconds();
    for (long i = 0; i < kBlock; ++i) {
      const Batch& batch = pool_[static_cast<std::size_t>(fed_++) % pool_.size()];
      pipeline_.feed(batch.views, batch.labels);
      if (fed_ % 64 == 0) take();
    }
    return {std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count(), cpu_seconds() - cpu};
  }
  /// The fed batches complete and answer.
  void finish() {
    pipeline_.flush();
    take();
  }
  long fed() const { return fed_; }
  long losses_taken() const { return losses_taken_; }
  bool finite() const { return finite_; }
  int segment_batches() const { return pipeline_.options().segment_batches; }

 private:
  struct Batch {
    std::vector<Tensor> views;
    std::vector<int> labels;
  };
  static tspipe::Pipeline<B> build(const Config& config) {
    tspipe::PipelineOptions o;
    o.stages = 2;
    o.micro_batches = 2;
    o.batch_size = kBatch;
    o.input_shape = {kFeatures};
    o.dispatch = config.dispatch;
    std::shared_ptr<const tspipe::nn::Loss> loss;
    std::vector<int64_t> teacher_widths = {kFeatures, 32, 32, kClasses}, student_widths = {kFeatures, 16, 16, kClasses};
    if (config.ssl) {
      o.views = 2;
      o.teacher = tspipe::update::TeacherPolicy::momentum(0.99, 1);
      teacher_widths = student_widths;  // a momentum teacher pairs with the student by name
      loss = std::make_shared<tspipe::nn::ByolLoss>();
    } else {
      loss = std::make_shared<tspipe::nn::SoftTargetKDLoss>();
    }
    return tspipe::Pipeline<B>(mlp_blocks(teacher_widths, 1, config.ssl ? "s" : "t"), mlp_blocks(student_widths, 2, "s"), loss,
                               [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.01}); }, o);
  }
  void take() {
    for (const auto& record : pipeline_.take_losses()) {
      ++losses_taken_;
      finite_ = finite_ && std::isfinite(record.loss);
    }
  }

  bool ssl_;
  tspipe::Pipeline<B> pipeline_;
  std::vector<Batch> pool_ = std::vector<Batch>(16);
  long fed_ = 0, losses_taken_ = 0;
  bool finite_ = true;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void soak(const Config& config, long total) {
  const std::string load_before = load_average();
  Soaked soaked(config);
  const std::vector<long> marks = {std::max(kBlock, total / 100), std::max(kBlock, total / 10), total};
  std::vector<Mark> measured;
  std::vector<double> wall_blocks, cpu_blocks;
  wall_blocks.reserve(static_cast<std::size_t>(total / kBlock + 1));
  cpu_blocks.reserve(static_cast<std::size_t>(total / kBlock + 1));
  while (soaked.fed() < total) {
    const auto [wall, cpu] = soaked.block();
    wall_blocks.push_back(wall);
    cpu_blocks.push_back(cpu);
    if (std::find(marks.begin(), marks.end(), soaked.fed()) == marks.end()) continue;
    if (soaked.fed() == total) soaked.finish();  // every batch answered before the last figure
    measured.push_back({soaked.fed(), resident_mib(), median_of_last(wall_blocks), median_of_last(cpu_blocks)});
  }

  // The marks lie minutes apart, and a shared machine's load moves in minutes: the time ratio is
  // also measured side by side, blocks of the soaked pipeline alternating with blocks of a
  // pipeline of the same configuration that has trained 1 % of the run.
  Soaked early(config);
  while (early.fed() < marks.front()) early.block();
  std::vector<double> late_wall, late_cpu, early_wall, early_cpu;
  const auto measure = [](Soaked& pipeline, std::vector<double>& wall, std::vector<double>& cpu) {
    const auto [w, c] = pipeline.block();
    wall.push_back(w);
    cpu.push_back(c);
  };
  for (std::size_t round = 0; round < kRounds; ++round) {  // each goes first every other round
    if (round % 2 == 0) measure(soaked, late_wall, late_cpu);
    measure(early, early_wall, early_cpu);
    if (round % 2 == 1) measure(soaked, late_wall, late_cpu);
  }
  soaked.finish();
  early.finish();

  std::printf("%s, %ld batches (S = 2, M = 2, batch %ld, segments of %d)\n", config.name.c_str(), total, kBatch,
              soaked.segment_batches());
  std::printf("  %-6s %10s %14s %22s %22s\n", "at", "batches", "resident MiB", "wall s / 1000 batches", "CPU s / 1000 batches");
  const char* labels[] = {"1 %", "10 %", "100 %"};
  for (std::size_t i = 0; i < measured.size(); ++i)
    std::printf("  %-6s %10ld %14.2f %22.4f %22.4f\n", labels[i], measured[i].batches, measured[i].resident, measured[i].wall_per_block,
                measured[i].cpu_per_block);
  const Mark& first = measured.front();
  const Mark& last = measured.back();
  std::printf("  at the marks, late/early (100 %% / 1 %%): memory %.3f, wall time %.3f, CPU time %.3f\n", last.resident / first.resident,
              last.wall_per_block / first.wall_per_block, last.cpu_per_block / first.cpu_per_block);
  std::printf("  side by side, %zu alternating pairs of blocks of 1000 (medians): wall %.4f s after %ld batches vs %.4f s after %ld, "
              "CPU %.4f vs %.4f s\n",
              kRounds, median(late_wall), total, median(early_wall), marks.front(), median(late_cpu), median(early_cpu));
  std::printf("  => late/early: memory %.3f, time %.3f (wall, side by side), %.3f (CPU, side by side)  [target ≤ 1.05 each]\n",
              last.resident / first.resident, median(late_wall) / median(early_wall), median(late_cpu) / median(early_cpu));
  const long answered = soaked.losses_taken() + early.losses_taken(), fed = soaked.fed() + early.fed();
  std::printf("  losses taken: %ld of %ld batches fed, %s; load average %s at the start, %s at the end\n\n", answered, fed,
              soaked.finite() && early.finite() ? "all finite" : "NOT ALL FINITE", load_before.c_str(), load_average().c_str());
  std::fflush(stdout);
}

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "bench_soak: %s\nusage: bench_soak [--batches N (≥ %ld, default 1000000)] "
               "[--config all|kd-in-order|kd-dynamic|ssl-in-order|ssl-dynamic]\n",
               problem.c_str(), 100 * kBlock);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  long total = 1000000;
  std::string which = "all";
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (i + 1 >= argc) usage(flag + " needs a value");
    const std::string value = argv[++i];
    if (flag == "--batches") {
      char* end = nullptr;
      total = std::strtol(value.c_str(), &end, 10);
      if (end == value.c_str() || *end != '\0' || total < 100 * kBlock) usage("--batches '" + value + "' must be an integer ≥ 100000");
    } else if (flag == "--config") {
      which = value;
    } else {
      usage("unknown flag " + flag);
    }
  }
  B::set_threads(1);
  const std::vector<Config> configs = {{"KD, in-order dispatch", false, tspipe::runtime::Dispatch::in_order},
                                       {"KD, dynamic dispatch", false, tspipe::runtime::Dispatch::dynamic},
                                       {"SSL (BYOL, momentum teacher, δ = 1), in-order dispatch", true, tspipe::runtime::Dispatch::in_order},
                                       {"SSL (BYOL, momentum teacher, δ = 1), dynamic dispatch", true, tspipe::runtime::Dispatch::dynamic}};
  const std::vector<std::string> keys = {"kd-in-order", "kd-dynamic", "ssl-in-order", "ssl-dynamic"};
  bool ran = false;
  for (std::size_t i = 0; i < configs.size(); ++i)
    if (which == "all" || which == keys[i]) {
      soak(configs[i], total);
      ran = true;
    }
  if (!ran) usage("unknown --config '" + which + "'");
  return 0;
}
