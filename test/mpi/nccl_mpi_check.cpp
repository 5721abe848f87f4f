// NcclMpiTransport under mpirun (see CMakeLists.txt); every rank checks its part and exits non-zero
// on a mismatch, so mpirun's exit status is the test's. Modes:
//   unique-id          no GPU needed: rank 0's ncclUniqueId reaches every rank intact (MPI
//                      broadcast through the session); where no GPU is present, creating the
//                      transport fails on EVERY rank with a message instead of leaving some
//                      waiting in a collective; make_pipeline<cuda::Backend> without a device
//                      transport is refused by name
//   devices <ranks>    (no mpirun) exit 77 with a message unless this node has a GPU per rank
//   gpu                S = 2, R = np/2, one GPU per rank: activations forward and gradients back
//                      between neighbouring stages, consumed in another order than sent, arrive
//                      with their shapes and values; a receive nobody sends to times out naming
//                      the rank, and takes the message up when it comes later;
//                      average_over_replicas averages over the replicas of a stage
//   pipeline           S = 2, R = np/2, one GPU per rank: make_pipeline<cuda::Backend> over the
//                      transport trains a KD MLP for 3 steps, each replica on its shard; every
//                      rank's stage then equals one in-process Pipeline<cuda::Backend> trained on
//                      the doubled batch (the KD loss is a mean over samples, so averaging the
//                      replicas' gradients is the whole batch's gradient)
#include <tspipe/cuda/device.hpp>
#include <tspipe/cuda/mpi_pipeline.hpp>
#include <tspipe/cuda/nccl_mpi_transport.hpp>
#include <tspipe/distributed/mpi.hpp>

#include <algorithm>
#include <cmath>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace mpi = tspipe::distributed::mpi;
using tspipe::cuda::Tensor;
using tspipe::schedule::ActionKind;

namespace {

int failures = 0;
void expect(bool condition, const std::string& what, const mpi::RankLayout& l) {
  if (condition) return;
  std::fprintf(stderr, "FAIL (%s): %s\n", l.describe().c_str(), what.c_str());
  ++failures;
}

int unique_id(mpi::MpiSession& session) {
  const mpi::RankLayout& l = session.layout();
  auto id = tspipe::cuda::broadcast_unique_id(session);
  expect(id.ok(), "broadcast_unique_id: " + id.message(), l);
  if (!id) return 1;
  const auto* raw = reinterpret_cast<const unsigned char*>(&id.value());
  std::vector<unsigned char> bytes(raw, raw + sizeof(ncclUniqueId));
  bool any = false;
  for (unsigned char b : bytes) any = any || b != 0;
  expect(any, "the unique id is all zero bytes", l);
  auto all = mpi::all_gather_equal(session, session.control_comm(), l.world_size, bytes, MPI_UNSIGNED_CHAR, "the unique ids");
  expect(all.ok(), all.message(), l);
  if (all)
    for (int r = 1; r < l.world_size; ++r)
      expect(std::memcmp(all.value().data(), all.value().data() + r * bytes.size(), bytes.size()) == 0,
             l.describe(r) + " holds another unique id than rank 0", l);

  if (!tspipe::cuda::available()) {
    // Every rank lacks a GPU: every rank must get the failure, none may wait for the others.
    auto transport = tspipe::cuda::NcclMpiTransport::create(session);
    expect(!transport.ok(), "NcclMpiTransport::create succeeded without a GPU", l);
    expect(transport.message().find("no CUDA device") != std::string::npos || transport.message().find("has no usable GPU") != std::string::npos,
           "the failure does not say that a GPU is missing: " + transport.message(), l);
    if (l.rank == 0) std::printf("no GPU: NcclMpiTransport::create failed on every rank: %s\n", transport.message().c_str());
  }

  // A pipeline of device tensors without a device transport is refused by name on every rank,
  // before anything is built (MpiTransport carries host tensors only).
  tspipe::PipelineOptions options;
  options.stages = 2;
  bool built = false;
  auto refused = mpi::make_pipeline<tspipe::cuda::Backend>(
      session, options, [&](const tspipe::PipelineOptions&) { built = true; return std::unique_ptr<tspipe::Pipeline<tspipe::cuda::Backend>>(); });
  expect(!refused.ok() && !built && refused.message().find("device tensors need a device transport") != std::string::npos,
         "make_pipeline<cuda::Backend> without a transport: " + (refused.ok() ? std::string("accepted") : refused.message()), l);
  return failures ? 1 : 0;
}

/// Values that say which message they are: batch·100 + micro_batch·10 + i.
Tensor message_tensor(long batch, int micro_batch, int64_t rows) {
  std::vector<float> values(static_cast<std::size_t>(rows * 3));
  for (std::size_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(batch * 100 + micro_batch * 10) + static_cast<float>(i);
  return Tensor::from({rows, 3}, values);
}

void expect_message(const tspipe::Result<Tensor>& got, long batch, int micro_batch, int64_t rows, const mpi::RankLayout& l) {
  const std::string what = "message of batch " + std::to_string(batch) + " micro-batch " + std::to_string(micro_batch);
  expect(got.ok(), what + ": " + got.message(), l);
  if (!got) return;
  expect(got.value().shape() == tspipe::nn::Shape{rows, 3}, what + ": wrong shape " + tspipe::nn::to_string(got.value().shape()), l);
  expect(got.value().to_vector() == message_tensor(batch, micro_batch, rows).to_vector(), what + ": wrong values", l);
}

void barrier(mpi::MpiSession& session) {
  MPI_Comm comm = session.control_comm();
  const tspipe::Status s = session.engine().run("MPI_Ibarrier", [comm](MPI_Request* r) { return MPI_Ibarrier(comm, r); },
                                                std::chrono::milliseconds(30000));
  expect(s.ok(), s.message(), session.layout());
}

int gpu(mpi::MpiSession& session) {
  const mpi::RankLayout& l = session.layout();
  auto created = tspipe::cuda::NcclMpiTransport::create(session);
  expect(created.ok(), "NcclMpiTransport::create: " + created.message(), l);
  if (!created) return 1;
  auto& transport = *created.value();
  const tspipe::cuda::StreamGuard on_device(tspipe::cuda::Stream::compute(tspipe::cuda::Device{transport.device()}));
  const auto timeout = std::chrono::milliseconds(20000);
  const int batch = l.replica() + 1;  // replicas send different data
  if (l.stage() == 0) {
    // Three activations of different sizes, then their gradients back, taken in reverse order.
    for (int u = 0; u < 3; ++u) {
      const tspipe::Status sent = transport.send(1, {ActionKind::StudentForward, batch, 0, u}, message_tensor(batch, u, 2 + u), timeout);
      expect(sent.ok(), "send: " + sent.message(), l);
    }
    for (int u = 2; u >= 0; --u) expect_message(transport.receive(0, {ActionKind::StudentBackward, batch, 0, u}, timeout), batch, u, 2 + u, l);
    barrier(session);  // stage 1 has given up on micro-batch 9: send it now
    const tspipe::Status sent = transport.send(1, {ActionKind::StudentForward, batch, 0, 9}, message_tensor(batch, 9, 4), timeout);
    expect(sent.ok(), "send: " + sent.message(), l);
  } else {
    for (int u : {2, 0, 1}) {
      expect_message(transport.receive(1, {ActionKind::StudentForward, batch, 0, u}, timeout), batch, u, 2 + u, l);
      const tspipe::Status sent = transport.send(0, {ActionKind::StudentBackward, batch, 0, u}, message_tensor(batch, u, 2 + u), timeout);
      expect(sent.ok(), "send: " + sent.message(), l);
    }
    // Nothing more comes from stage 0: the wait must end at its deadline and name that rank.
    auto never = transport.receive(1, {ActionKind::StudentForward, batch, 0, 9}, std::chrono::milliseconds(300));
    expect(!never.ok() && never.message().find(l.describe(l.rank_of(l.replica(), 0))) != std::string::npos,
           "a receive nothing is sent to: " + (never.ok() ? std::string("succeeded") : never.message()), l);
    // When it does come, the next receive takes it up (the header receive stayed posted).
    barrier(session);
    expect_message(transport.receive(1, {ActionKind::StudentForward, batch, 0, 9}, timeout), batch, 9, 4, l);
  }
  expect(transport.pending() == 0, "messages left over", l);

  Tensor a = Tensor::full({5}, static_cast<float>(l.replica())), b = Tensor::full({2, 3}, static_cast<float>(10 * l.replica()));
  const tspipe::Status averaged = transport.average_over_replicas({&a, &b});
  expect(averaged.ok(), "average_over_replicas: " + averaged.message(), l);
  const float mean = static_cast<float>(l.replicas - 1) / 2.0f;
  expect(a.to_vector() == std::vector<float>(5, mean), "average_over_replicas: wrong mean", l);
  expect(b.to_vector() == std::vector<float>(6, 10 * mean), "average_over_replicas: wrong mean of the second tensor", l);
  if (l.rank == 0 && !failures) std::printf("ok: %d ranks, %d replicas: NCCL send/recv and the replica average\n", l.world_size, l.replicas);
  return failures ? 1 : 0;
}

using GB = tspipe::cuda::Backend;

std::vector<tspipe::nn::LayerPtr<GB>> device_mlp(const std::vector<int64_t>& widths, uint64_t seed, const std::string& prefix) {
  std::vector<tspipe::nn::LayerPtr<GB>> blocks;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const std::string name = prefix + "fc" + std::to_string(i);
    auto block = std::make_unique<tspipe::nn::Sequential<GB>>();
    block->add(name, GB::linear(widths[i], widths[i + 1], true, seed + i, name));
    if (i + 2 < widths.size()) block->add(name + "_act", GB::relu());
    blocks.push_back(std::move(block));
  }
  return blocks;
}

int pipeline(mpi::MpiSession& session) {
  const mpi::RankLayout& l = session.layout();
  auto created = tspipe::cuda::NcclMpiTransport::create(session);
  expect(created.ok(), "NcclMpiTransport::create: " + created.message(), l);
  if (!created) return 1;
  const tspipe::cuda::StreamGuard on_device(tspipe::cuda::Stream::compute(tspipe::cuda::Device{created.value()->device()}));
  constexpr int64_t features = 6, classes = 4;
  constexpr long shard = 8;
  const auto build = [](const tspipe::PipelineOptions& o) {
    return std::make_unique<tspipe::Pipeline<GB>>(
        device_mlp({features, 12, 12, classes}, 100, "t"), device_mlp({features, 10, 8, classes}, 200, ""),
        std::make_shared<tspipe::cuda::SoftTargetKDLoss>(4.0f, 0.5f),
        [] { return std::make_unique<tspipe::cuda::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.05, .momentum = 0.9f}); }, o);
  };
  tspipe::PipelineOptions o;
  o.stages = 2;
  o.micro_batches = 2;
  o.schedule = "1f1b";
  o.batch_size = shard;
  o.input_shape = {features};
  o.segment_batches = 2;
  o.watchdog = std::chrono::milliseconds(20000);
  auto made = mpi::make_pipeline<GB>(session, o, build, created.value());
  expect(made.ok(), "make_pipeline<cuda::Backend>: " + made.message(), l);
  if (!made) return 1;
  tspipe::Pipeline<GB>& distributed = *made.value();
  // The reference: one process, every stage on this GPU, the whole batch, rank 0's cuts.
  tspipe::PipelineOptions whole = o;
  whole.batch_size = shard * l.replicas;
  whole.teacher_cuts = {distributed.partition().teacher_bounds[1]};
  whole.student_cuts = {distributed.partition().student_bounds[1]};
  auto reference = build(whole);
  for (int step = 0; step < 3; ++step) {
    const tspipe::nn::Tensor x = tspipe::nn::Tensor::randn({shard * l.replicas, features}, 50 + static_cast<uint64_t>(step));
    std::vector<int> labels(static_cast<std::size_t>(shard * l.replicas));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>((i * 7 + static_cast<std::size_t>(step)) % classes);
    const auto mine = tspipe::runtime::TensorOps<tspipe::nn::Tensor>::slice_rows(x, l.replica() * shard, shard);
    distributed.feed({Tensor::from_host(mine)}, std::vector<int>(labels.begin() + l.replica() * shard, labels.begin() + (l.replica() + 1) * shard));
    reference->feed({Tensor::from_host(x)}, labels);
  }
  distributed.flush();
  reference->flush();
  auto got = distributed.stage(l.stage()).student.parameters();
  auto want = reference->stage(l.stage()).student.parameters();
  expect(got.size() == want.size() && !got.empty(), "stage parameter lists differ", l);
  double worst = 0.0;
  for (std::size_t i = 0; i < std::min(got.size(), want.size()); ++i) {
    const auto a = got[i].value->to_vector(), b = want[i].value->to_vector();
    double diff = 0.0, scale = 0.0;
    for (std::size_t k = 0; k < std::min(a.size(), b.size()); ++k) {
      diff = std::max(diff, static_cast<double>(std::abs(a[k] - b[k])));
      scale = std::max(scale, static_cast<double>(std::abs(b[k])));
    }
    worst = std::max(worst, scale > 0.0 ? diff / scale : diff);
  }
  expect(worst <= 1e-5, "stage parameters differ from the one-process run on the doubled batch by " + std::to_string(worst), l);
  if (l.rank == 0 && !failures)
    std::printf("ok: make_pipeline<cuda::Backend>, %d ranks, %d replicas, equal to one process on the doubled batch\n", l.world_size, l.replicas);
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "devices") {
    const int needed = argc > 2 ? std::atoi(argv[2]) : 1;
    const auto count = tspipe::cuda::device_count();
    if (!count || count.value() < needed) {
      std::printf("SKIP: NcclMpiTransport needs a GPU per rank (%d): %s\n", needed,
                  count ? (std::to_string(count.value()) + " device(s) here").c_str() : count.message().c_str());
      return 77;
    }
    return 0;
  }
  if (mode != "unique-id" && mode != "gpu" && mode != "pipeline") {
    std::fprintf(stderr, "usage: %s devices <ranks> | mpirun -np N %s unique-id|gpu|pipeline\n", argv[0], argv[0]);
    return 2;
  }
  auto started = mpi::MpiSession::start(2);
  if (!started) {
    std::fprintf(stderr, "nccl_mpi_check: %s\n", started.message().c_str());
    return 1;
  }
  if (mode == "unique-id") return unique_id(*started.value());
  return mode == "gpu" ? gpu(*started.value()) : pipeline(*started.value());
}
