// MPI launch benchmark (issue "Several processes and machines", performance): the same S = 2 KD
// pipeline run in one process (two stage threads) and as two ranks under mpirun (one stage each),
// OpenBLAS single-threaded per stage in both, so only the transport differs. run_bench.sh runs
// both and prints them side by side.
//
//   bench_mpi in-process [batches]                  one process, in-process transport
//   mpirun -np 2 bench_mpi mpi [batches]            one rank per stage, MPI transport
#include "../../test/runtime/common.hpp"  // the MLP blocks the runtime tests build

#include <tspipe/runtime/mpi.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

using test::B;
using test::mlp;
using tspipe::nn::Tensor;
namespace mpi = tspipe::runtime::mpi;

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

/// Warm-up segment, then `batches` measured batches; `synchronise` lines the ranks up around the
/// measured part (nothing in one process).
template <class Synchronise>
double examples_per_second(tspipe::Pipeline<B>& pipeline, int batches, Synchronise synchronise) {
  std::vector<Tensor> views{Tensor::randn({kBatch, kHidden}, 10)};
  std::vector<int> labels(static_cast<std::size_t>(kBatch));
  for (long i = 0; i < kBatch; ++i) labels[static_cast<std::size_t>(i)] = static_cast<int>(i % kClasses);
  for (int b = 0; b < batches; ++b) pipeline.feed(views, labels);
  pipeline.flush();
  synchronise();
  const auto start = std::chrono::steady_clock::now();
  for (int b = 0; b < batches; ++b) pipeline.feed(views, labels);
  pipeline.flush();
  synchronise();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(batches * kBatch) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  const int batches = argc > 2 ? std::atoi(argv[2]) : 16;
  B::set_threads(1);
  if (mode == "in-process") {
    auto pipeline = build(options(batches));
    std::printf("in-process examples/s %.1f\n", examples_per_second(*pipeline, batches, [] {}));
    return 0;
  }
  if (mode != "mpi") {
    std::fprintf(stderr, "usage: %s in-process [batches] | mpirun -np 2 %s mpi [batches]\n", argv[0], argv[0]);
    return 2;
  }
  auto started = mpi::MpiSession::start(2);
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
    if (tspipe::Status s = session.communication().run("MPI_Ibarrier", [comm](MPI_Request* r) { return MPI_Ibarrier(comm, r); },
                                                       std::chrono::milliseconds(60000));
        !s)
      session.abort_job(s.message());
  };
  const double rate = examples_per_second(*pipeline.value(), batches, barrier);
  if (session.layout().logs()) std::printf("mpi examples/s %.1f\n", rate);
  return 0;
}
