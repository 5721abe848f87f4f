// MPI launch benchmark: the same S = 2 KD pipeline run in one process (two stage threads) and as
// two ranks under mpirun (one stage each), OpenBLAS single-threaded per stage in both, so only the
// transport differs. run_bench.sh runs both and prints them side by side.
//
//   bench_mpi in-process [batches]                  one process, in-process transport
//   mpirun -np 2 bench_mpi mpi [batches [spin µs [idle_sleep µs]]]
//                                                   one rank per stage, MPI transport
//   mpirun -np 2 bench_mpi latency [spin µs [idle_sleep µs]]
//                                                   one-way time of a 64 KB activation through
//                                                   MpiTransport (ping-pong between two ranks)
//   mpirun -np 2 bench_mpi idle                     CPU a rank's progress engine uses over
//                                                   2 s with nothing to do (its polling cost)
// spin and idle_sleep (SessionOptions, defaults when left out): how a waiting thread polls MPI.
#include "../../test/mpi/cpu_time.hpp"
#include "../../test/runtime/common.hpp"  // the MLP blocks the runtime tests build

#include <tspipe/distributed/mpi.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using test::B;
using test::mlp;
using test::process_cpu_seconds;
using tspipe::nn::Tensor;
namespace mpi = tspipe::distributed::mpi;

namespace {

constexpr int kHidden = 512, kClasses = 64, kMicroBatches = 4;
constexpr long kBatch = 128;

tspipe::PipelineOptions options(int batches) {
  tspipe::PipelineOptions o;
  o.stages = 2;
  o.micro_batches = kMicroBatches;
  o.schedule = "1f1b";
  o.batch_size = kBatch;
  o.input_shape = {kHidden};
  o.segment_batches = batches;
  o.teacher_cuts = {2};  // fixed, balanced cuts: both modes run the same stages
  o.student_cuts = {2};
  return o;
}

std::unique_ptr<tspipe::Pipeline<B>> build(const tspipe::PipelineOptions& o) {
  const std::vector<int64_t> student = {kHidden, kHidden, kHidden, kHidden, kClasses};
  const std::vector<int64_t> teacher = {kHidden, 2 * kHidden, 2 * kHidden, 2 * kHidden, kClasses};
  return std::make_unique<tspipe::Pipeline<B>>(mlp(teacher, 1, "t"), mlp(student, 2, "s"), std::make_shared<tspipe::nn::SoftTargetKDLoss>(),
                                               [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 1e-3}); }, o);
}

struct Measured {
  double examples_per_second = 0.0;
  double cpu_seconds = 0.0;  ///< of this process over the measured batches
};

/// Warm-up segment, then `batches` measured batches; `synchronise` lines the ranks up around the
/// measured part (nothing in one process). The CPU time is the load-independent side of the cost:
/// on a shared machine the wall clock mostly measures the neighbours.
template <class Synchronise>
Measured measure(tspipe::Pipeline<B>& pipeline, int batches, Synchronise synchronise) {
  std::vector<Tensor> views{Tensor::randn({kBatch, kHidden}, 10)};
  std::vector<int> labels(static_cast<std::size_t>(kBatch));
  for (long i = 0; i < kBatch; ++i) labels[static_cast<std::size_t>(i)] = static_cast<int>(i % kClasses);
  for (int b = 0; b < batches; ++b) pipeline.feed(views, labels);
  pipeline.flush();
  synchronise();
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu_seconds();
  for (int b = 0; b < batches; ++b) pipeline.feed(views, labels);
  pipeline.flush();
  synchronise();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return {static_cast<double>(batches * kBatch) / seconds, process_cpu_seconds() - cpu_start};
}

/// SessionOptions with spin and idle_sleep from argv[at], argv[at + 1] where given.
mpi::SessionOptions session_options(int argc, char** argv, int at) {
  mpi::SessionOptions o;
  if (argc > at) o.spin = std::chrono::microseconds(std::atol(argv[at]));
  if (argc > at + 1) o.idle_sleep = std::chrono::microseconds(std::atol(argv[at + 1]));
  return o;
}

/// Ping-pong of a micro-batch activation ([32, 512] floats) between the two ranks' stages; rank 0
/// prints the mean one-way time. spin and idle_sleep: how a waiting thread polls MPI, the
/// trade-off between message latency and cores left to workers.
int latency(const mpi::SessionOptions& session_options) {
  auto started = mpi::MpiSession::start(2, session_options);
  if (!started) {
    std::fprintf(stderr, "bench_mpi: %s\n", started.message().c_str());
    return 1;
  }
  mpi::MpiSession& session = *started.value();
  mpi::MpiTransport<Tensor> transport(session);
  const Tensor activation = Tensor::randn({kBatch / kMicroBatches, kHidden}, 3);
  const auto timeout = std::chrono::milliseconds(10000);
  const bool first = session.layout().stage() == 0;
  using tspipe::schedule::ActionKind;
  const auto round_trip = [&](long i) {
    const tspipe::runtime::MessageKey forward{ActionKind::StudentForward, i, 0, 0}, backward{ActionKind::StudentBackward, i, 0, 0};
    if (first) {
      if (tspipe::Status s = transport.send(1, forward, activation, timeout); !s) session.abort_job(s.message());
      if (auto r = transport.receive(0, backward, timeout); !r) session.abort_job(r.message());
    } else {
      if (auto r = transport.receive(1, forward, timeout); !r) session.abort_job(r.message());
      if (tspipe::Status s = transport.send(0, backward, activation, timeout); !s) session.abort_job(s.message());
    }
  };
  constexpr long kWarmUp = 50, kRounds = 1000;
  for (long i = 0; i < kWarmUp; ++i) round_trip(i);
  const auto start = std::chrono::steady_clock::now();
  for (long i = kWarmUp; i < kWarmUp + kRounds; ++i) round_trip(i);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (first)
    std::printf("latency us_per_message %.1f (spin %ld us, idle_sleep %ld us)\n", seconds / (2.0 * kRounds) * 1e6,
                static_cast<long>(session_options.spin.count()), static_cast<long>(session_options.idle_sleep.count()));
  return 0;
}

/// A session that has nothing to do for 2 s: the CPU its progress engine spends polling.
int idle() {
  auto started = mpi::MpiSession::start(2);
  if (!started) {
    std::fprintf(stderr, "bench_mpi: %s\n", started.message().c_str());
    return 1;
  }
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  std::printf("idle rank %d cpu_ms_per_s %.1f\n", started.value()->layout().rank, 1e3 * (process_cpu_seconds() - before) / 2.0);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const int batches = argc > 2 ? std::atoi(argv[2]) : 16;
  B::set_threads(1);
  if (mode == "in-process") {
    auto pipeline = build(options(batches));
    const Measured m = measure(*pipeline, batches, [] {});
    std::printf("in-process examples/s %.1f cpu_ms_per_batch %.2f\n", m.examples_per_second, 1e3 * m.cpu_seconds / batches);
    return 0;
  }
  if (mode == "idle") return idle();
  if (mode == "latency") return latency(session_options(argc, argv, 2));
  if (mode != "mpi") {
    std::fprintf(stderr, "usage: %s in-process [batches] | mpirun -np 2 %s mpi [batches [spin µs [idle_sleep µs]]] | latency [spin µs [idle_sleep µs]] | idle\n",
                 argv[0], argv[0]);
    return 2;
  }
  auto started = mpi::MpiSession::start(2, session_options(argc, argv, 3));
  if (!started) {
    std::fprintf(stderr, "bench_mpi: %s\n", started.message().c_str());
    return 1;
  }
  mpi::MpiSession& session = *started.value();
  auto pipeline = mpi::make_pipeline<B>(session, options(batches), build);
  if (!pipeline) {
    std::fprintf(stderr, "bench_mpi: %s\n", pipeline.message().c_str());
    return 1;
  }
  MPI_Comm comm = session.control_comm();
  const auto barrier = [&] {
    if (tspipe::Status s = session.engine().run("MPI_Ibarrier", [comm](MPI_Request* r) { return MPI_Ibarrier(comm, r); },
                                                std::chrono::milliseconds(60000));
        !s)
      session.abort_job(s.message());
  };
  const Measured m = measure(*pipeline.value(), batches, barrier);
  // Both ranks' CPU time: the job's cost, as the in-process figure is both stages'.
  auto cpu = mpi::all_gather_equal(session, comm, session.layout().world_size, std::vector<double>{m.cpu_seconds}, MPI_DOUBLE, "the CPU times");
  if (!cpu) session.abort_job(cpu.message());
  double cpu_seconds = 0.0;
  for (double c : cpu.value()) cpu_seconds += c;
  if (session.layout().logs()) std::printf("mpi examples/s %.1f cpu_ms_per_batch %.2f\n", m.examples_per_second, 1e3 * cpu_seconds / batches);
  return 0;
}
