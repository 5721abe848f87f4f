// Soak benchmark: a long run must hold flat memory and a flat cost per batch. A small two-stage
// pipeline (a tiny MLP on the CPU backend, batch 4, M = 2, default options otherwise) is fed
// 1 000 000 batches, its losses taken as they arrive, for KD and SSL under in-order and dynamic
// dispatch in turn. At 1 %, 10 % and 100 % of each run it prints the resident memory (from
// /proc/self/statm) and the time per 1000 batches (the median of the last blocks of 1000 batches
// before that point), then the ratios late/early (100 % over 1 %). Target: both ≤ 1.05.
// Time is given as wall-clock time and as the process's CPU time (all threads): on a shared
// machine the wall-clock time also measures the neighbours' load, the CPU time much less so.
//
//   bench_soak [--batches N] [--config all|kd-in-order|kd-dynamic|ssl-in-order|ssl-dynamic]
//
// Each configuration runs in turn in this process; run one per process (--config) to keep one
// configuration's freed memory out of the next one's figures.
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
using tspipe::nn::Tensor;

namespace {

constexpr long kBatch = 4;
constexpr int kFeatures = 8, kClasses = 4;
constexpr long kBlock = 1000;        // batches per timed block
constexpr std::size_t kMedianOf = 9;  // blocks whose median is the time at a mark

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

std::vector<tspipe::nn::LayerPtr<B>> mlp(const std::vector<int64_t>& widths, uint64_t seed, const std::string& prefix) {
  std::vector<tspipe::nn::LayerPtr<B>> blocks;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const std::string name = prefix + std::to_string(i);
    auto block = std::make_unique<tspipe::nn::Sequential<B>>();
    block->add(name, B::linear(widths[i], widths[i + 1], true, seed + i, name));
    if (i + 2 < widths.size()) block->add(name + "_act", B::relu());
    blocks.push_back(std::move(block));
  }
  return blocks;
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

void soak(const Config& config, long total) {
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
  tspipe::Pipeline<B> pipeline(mlp(teacher_widths, 1, config.ssl ? "s" : "t"), mlp(student_widths, 2, "s"), loss,
                               [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.01}); }, o);

  // A pool of batches, fed in turn: the data costs nothing per batch.
  struct Batch {
    std::vector<Tensor> views;
    std::vector<int> labels;
  };
  std::vector<Batch> pool(16);
  for (std::size_t i = 0; i < pool.size(); ++i) {
    for (int v = 0; v < o.views; ++v) pool[i].views.push_back(Tensor::randn({kBatch, kFeatures}, 100 * i + static_cast<uint64_t>(v)));
    if (!config.ssl)
      for (long r = 0; r < kBatch; ++r) pool[i].labels.push_back(static_cast<int>((i + static_cast<std::size_t>(r)) % kClasses));
  }

  const std::vector<long> marks = {std::max(kBlock, total / 100), std::max(kBlock, total / 10), total};
  std::vector<Mark> measured;
  std::vector<double> wall_blocks, cpu_blocks;
  wall_blocks.reserve(static_cast<std::size_t>(total / kBlock + 1));
  cpu_blocks.reserve(static_cast<std::size_t>(total / kBlock + 1));
  long losses_taken = 0;
  bool finite = true;
  const auto take = [&] {
    for (const auto& record : pipeline.take_losses()) {
      ++losses_taken;
      finite = finite && std::isfinite(record.loss);
    }
  };
  const std::string load_before = load_average();
  auto block_start = std::chrono::steady_clock::now();
  double block_cpu_start = cpu_seconds();
  for (long b = 1; b <= total; ++b) {
    const Batch& batch = pool[static_cast<std::size_t>(b) % pool.size()];
    pipeline.feed(batch.views, batch.labels);
    if (b % 64 == 0) take();
    if (b % kBlock == 0) {
      const auto now = std::chrono::steady_clock::now();
      const double cpu_now = cpu_seconds();
      wall_blocks.push_back(std::chrono::duration<double>(now - block_start).count());
      cpu_blocks.push_back(cpu_now - block_cpu_start);
      block_start = now;
      block_cpu_start = cpu_now;
    }
    if (std::find(marks.begin(), marks.end(), b) != marks.end()) {
      if (b == total) {  // the last batches complete (and answer) before the last figure
        pipeline.flush();
        take();
      }
      measured.push_back({b, resident_mib(), median_of_last(wall_blocks), median_of_last(cpu_blocks)});
    }
  }

  std::printf("%s, %ld batches (S = 2, M = 2, batch %ld, segments of %d)\n", config.name.c_str(), total, kBatch, o.segment_batches);
  std::printf("  %-6s %10s %14s %22s %22s\n", "at", "batches", "resident MiB", "wall s / 1000 batches", "CPU s / 1000 batches");
  const char* labels[] = {"1 %", "10 %", "100 %"};
  for (std::size_t i = 0; i < measured.size(); ++i)
    std::printf("  %-6s %10ld %14.2f %22.4f %22.4f\n", labels[i], measured[i].batches, measured[i].resident, measured[i].wall_per_block,
                measured[i].cpu_per_block);
  const Mark& early = measured.front();
  const Mark& late = measured.back();
  std::printf("  late/early (100 %% / 1 %%): memory %.3f, wall time %.3f, CPU time %.3f  (target ≤ 1.05 each)\n",
              late.resident / early.resident, late.wall_per_block / early.wall_per_block, late.cpu_per_block / early.cpu_per_block);
  std::printf("  losses taken: %ld of %ld, %s; load average %s at the start, %s at the end\n\n", losses_taken, total,
              finite ? "all finite" : "NOT ALL FINITE", load_before.c_str(), load_average().c_str());
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
