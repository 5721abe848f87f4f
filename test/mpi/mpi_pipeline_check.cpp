// Runs under mpirun (see CMakeLists.txt); every rank checks its own part and exits non-zero on a
// mismatch, so mpirun's exit status is the test's. Modes:
//   single-replica  S = 2, R = 1: each rank's stage equals the in-process pipeline's (KD and SSL)
//   replicas <ckpt> S = 2, R = 2: equals one in-process pipeline on the doubled batch (KD with a
//                   per-sample loss; MoCo-v3's InfoNCE through GatheredLoss; the momentum teacher
//                   identical everywhere); the checkpoint rank 0 writes restores in one process
//   batchnorm <ckpt> S = 2, R = 2, BatchNorm in every block and a momentum teacher averaging the
//                   student's running statistics: parameters and running statistics equal two
//                   in-process replicas that average gradients and running statistics at each
//                   OPT (the documented behaviour); the checkpoint holds those statistics
//   killed          S = 2, R = 1: rank 1 dies mid-run (SIGKILL); mpirun ends the job, rank 0 names
//                   the rank it was waiting on
//   stalled         S = 2, R = 1: rank 1 stops mid-run (SIGSTOP, alive but silent); rank 0's
//                   watchdog names it and ends the job
//   engine          S = 2, R = 1, no pipeline: a 1 MiB tensor reaches rank 1 while rank 0 makes
//                   no MPI call (the session's background thread moves it; over TCP its
//                   rendezvous needs rank 0's progress), and a session with nothing in flight
//                   spends no CPU polling
//   chunks-refused  S = 2, R = 1, chunks = 2 (interleaved-1f1b): make_pipeline refuses on every
//                   rank with its message and builds nothing, before any collective call: each
//                   rank is refused first alone while the other waits in a barrier (a collective
//                   inside would wait for it, or meet the barrier instead), then all at once, as a
//                   launch calls it
#include "../runtime/common.hpp"
#include "cpu_time.hpp"

#include <tspipe/distributed/mpi.hpp>

#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

using namespace test;
namespace mpi = tspipe::distributed::mpi;

namespace {

constexpr int64_t kFeatures = 6, kClasses = 4;
constexpr long kShard = 8;  // samples per replica and batch
constexpr int kStages = 2, kSteps = 6;

std::vector<int64_t> student_widths() { return {kFeatures, 10, 10, 8, kClasses}; }
std::vector<int64_t> teacher_widths() { return {kFeatures, 12, 12, 12, kClasses}; }

tspipe::OptimizerFactory sgd() {
  return [] { return std::make_unique<tspipe::nn::Sgd>(tspipe::nn::SgdOptions{.learning_rate = 0.05, .momentum = 0.9, .weight_decay = 1e-3}); };
}

struct Setup {
  std::string name;
  bool ssl = false;  // momentum teacher, two views, MoCo-v3 (InfoNCE)
  std::string schedule = "1f1b";
  bool batchnorm = false;  // BatchNorm blocks, a momentum teacher that averages their statistics
};

/// The student's MLP with BatchNorm after every hidden Linear.
Blocks batchnorm_mlp(uint64_t seed) {
  const std::vector<int64_t> widths = student_widths();
  Blocks blocks;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    const std::string name = "fc" + std::to_string(i);
    auto layer = B::linear(widths[i], widths[i + 1], true, seed + i, name);
    if (i + 2 == widths.size()) {
      blocks.push_back(tspipe::nn::named<B>(name, std::move(layer)));
      break;
    }
    auto block = std::make_unique<tspipe::nn::Sequential<B>>();
    block->add(name, std::move(layer));
    block->add(name + "_bn", B::batch_norm1d(widths[i + 1], name + "_bn"));
    block->add(name + "_act", B::relu());
    blocks.push_back(std::move(block));
  }
  return blocks;
}

std::string scientific(double x) {
  char text[32];
  std::snprintf(text, sizeof text, "%.2e", x);
  return text;
}

tspipe::PipelineOptions options_for(const Setup& setup, long batch_size) {
  tspipe::PipelineOptions o;
  o.stages = kStages;
  o.micro_batches = 2;
  o.schedule = setup.schedule;
  o.batch_size = batch_size;
  o.input_shape = {kFeatures};
  o.segment_batches = 2;
  o.watchdog = std::chrono::milliseconds(20000);
  if (setup.ssl) {
    o.views = 2;
    o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1);
  }
  if (setup.batchnorm) {
    o.teacher = tspipe::update::TeacherPolicy::momentum(0.9, 1);
    o.teacher.buffers = tspipe::update::TeacherBuffers::average;
  }
  return o;  // cuts left automatic: make_pipeline must agree on rank 0's
}

Blocks teacher_of(const Setup& setup) {
  if (setup.batchnorm) return batchnorm_mlp(300);
  return setup.ssl ? mlp(student_widths(), 300) : mlp(teacher_widths(), 100, "t");
}
Blocks student_of(const Setup& setup) {
  if (setup.batchnorm) return batchnorm_mlp(300);
  return setup.ssl ? mlp(student_widths(), 300) : mlp(student_widths(), 200);
}
std::shared_ptr<const tspipe::nn::Loss> loss_of(const Setup& setup) {
  if (setup.ssl) return std::make_shared<tspipe::nn::MocoV3Loss>(0.2f);
  return std::make_shared<tspipe::nn::SoftTargetKDLoss>(4.0, 0.5);
}

/// Batch `step` of the whole run: `replicas` shards one after another.
Batch whole_batch(const Setup& setup, int replicas, int step) {
  return make_batch(kShard * replicas, kFeatures, setup.ssl ? 2 : 1, kClasses, 7 + static_cast<uint64_t>(step));
}
Batch shard_of(const Batch& whole, int replica) {
  Batch shard;
  for (const Tensor& view : whole.views) shard.views.push_back(tspipe::runtime::TensorOps<Tensor>::slice_rows(view, replica * kShard, kShard));
  if (!whole.labels.empty())
    shard.labels.assign(whole.labels.begin() + replica * kShard, whole.labels.begin() + (replica + 1) * kShard);
  return shard;
}

/// The in-process run on the whole batch (every stage here).
struct Reference {
  std::unique_ptr<tspipe::Pipeline<B>> pipeline;
  std::vector<tspipe::LossRecord> losses;
};
Reference reference_run(const Setup& setup, int replicas, const tspipe::partition::PartitionPlan& distributed) {
  tspipe::PipelineOptions o = options_for(setup, kShard * replicas);
  for (int s = 1; s < kStages; ++s) {  // the same partition as the MPI run
    o.teacher_cuts.push_back(distributed.teacher_bounds[static_cast<std::size_t>(s)]);
    o.student_cuts.push_back(distributed.student_bounds[static_cast<std::size_t>(s)]);
  }
  Reference ref;
  ref.pipeline = std::make_unique<tspipe::Pipeline<B>>(teacher_of(setup), student_of(setup), loss_of(setup), sgd(), o);
  for (int step = 0; step < kSteps; ++step) {
    const Batch batch = whole_batch(setup, replicas, step);
    ref.pipeline->feed(batch.views, batch.labels);
  }
  ref.pipeline->flush();
  ref.losses = ref.pipeline->take_losses();
  return ref;
}

tspipe::PipelineOptions with_cuts(tspipe::PipelineOptions o, const tspipe::partition::PartitionPlan& distributed) {
  o.teacher_cuts.clear();
  o.student_cuts.clear();
  for (int s = 1; s < kStages; ++s) {
    o.teacher_cuts.push_back(distributed.teacher_bounds[static_cast<std::size_t>(s)]);
    o.student_cuts.push_back(distributed.student_bounds[static_cast<std::size_t>(s)]);
  }
  return o;
}

/// Where in-process replicas meet at each OPT: the last of a stage's replicas to arrive replaces
/// every replica's gradients and running statistics by their mean — what the R replicas of an MPI
/// run must do, written independently of it.
class ReplicaMeeting {
 public:
  explicit ReplicaMeeting(int replicas) : replicas_(replicas) {}
  void arrive(int replica, int stage, std::vector<std::span<float>> parts) {
    std::unique_lock lock(mutex_);
    Meeting& m = meetings_[stage];
    m.parts.resize(static_cast<std::size_t>(replicas_));
    m.parts[static_cast<std::size_t>(replica)] = std::move(parts);
    if (++m.arrived < replicas_) {
      const long generation = m.generation;
      if (!changed_.wait_for(lock, std::chrono::seconds(30), [&] { return m.generation != generation; }))
        throw tspipe::Error("in-process replicas: stage " + std::to_string(stage) + " waited 30 s for the other replicas");
      return;
    }
    for (std::size_t p = 0; p < m.parts[0].size(); ++p)
      for (std::size_t i = 0; i < m.parts[0][p].size(); ++i) {
        float sum = 0.0f;
        for (const auto& replica_parts : m.parts) sum += replica_parts.at(p)[i];
        for (auto& replica_parts : m.parts) replica_parts[p][i] = sum * (1.0f / static_cast<float>(replicas_));
      }
    m.arrived = 0;
    ++m.generation;
    changed_.notify_all();
  }

 private:
  struct Meeting {
    std::vector<std::vector<std::span<float>>> parts;
    int arrived = 0;
    long generation = 0;
  };
  int replicas_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<int, Meeting> meetings_;
};

/// R replicas in this process, each on its shard, meeting at every OPT.
std::vector<std::unique_ptr<tspipe::Pipeline<B>>> in_process_replicas(const Setup& setup, int replicas,
                                                                       const tspipe::partition::PartitionPlan& distributed) {
  std::vector<std::unique_ptr<tspipe::Pipeline<B>>> pipelines;
  ReplicaMeeting meeting(replicas);
  for (int r = 0; r < replicas; ++r) {
    pipelines.push_back(std::make_unique<tspipe::Pipeline<B>>(teacher_of(setup), student_of(setup), loss_of(setup), sgd(),
                                                              with_cuts(options_for(setup, kShard), distributed)));
    tspipe::Distribution<Tensor> hooks;
    hooks.reduce_gradients = [&meeting, &pipelines, r](int s, const std::vector<tspipe::nn::ParamSlot>& gradients) {
      std::vector<std::span<float>> parts;
      for (const auto& slot : gradients) parts.push_back(slot.grad);
      for (auto statistics : mpi::running_statistics(*pipelines[static_cast<std::size_t>(r)], s)) parts.push_back(statistics);
      meeting.arrive(r, s, std::move(parts));
    };
    pipelines.back()->set_distribution(std::move(hooks));
  }
  std::vector<std::thread> threads;
  std::vector<std::string> errors(static_cast<std::size_t>(replicas));
  for (int r = 0; r < replicas; ++r)
    threads.emplace_back([&, r] {
      try {
        for (int step = 0; step < kSteps; ++step) {
          const Batch shard = shard_of(whole_batch(setup, replicas, step), r);
          pipelines[static_cast<std::size_t>(r)]->feed(shard.views, shard.labels);
        }
        pipelines[static_cast<std::size_t>(r)]->flush();
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  for (const auto& e : errors)
    if (!e.empty()) throw tspipe::Error("in-process replicas: " + e);
  return pipelines;
}

std::map<std::string, std::vector<float>> buffers_of(std::vector<tspipe::nn::Buffer<B>> buffers) {
  std::map<std::string, std::vector<float>> out;
  for (auto& b : buffers) out[b.name] = std::vector<float>(b.value->span().begin(), b.value->span().end());
  return out;
}

int failures = 0;
void check(bool ok, const mpi::RankLayout& layout, const std::string& what) {
  std::cout << layout.describe() << (ok ? ": ok    " : ": FAIL  ") << what << std::endl;
  if (!ok) ++failures;
}

std::map<std::string, std::vector<float>> stage_values(tspipe::Pipeline<B>& p, int s, bool teacher) {
  auto& st = p.stage(s);
  return values_of(teacher ? st.teacher.parameters() : st.student.parameters());
}

/// How rank 1 leaves a run that the test wants to fail.
struct Failure {
  int at_step = -1;  ///< -1: no failure
  int signal = SIGKILL;
  std::chrono::milliseconds watchdog{20000};
};

std::unique_ptr<tspipe::Pipeline<B>> distributed_run(mpi::MpiSession& session, const Setup& setup, std::shared_ptr<const tspipe::nn::Loss> loss,
                                                     Failure failure = {}) {
  const auto& l = session.layout();
  tspipe::PipelineOptions options = options_for(setup, kShard);
  options.watchdog = failure.watchdog;
  auto built = mpi::make_pipeline<B>(session, options, [&](const tspipe::PipelineOptions& o) {
    return std::make_unique<tspipe::Pipeline<B>>(teacher_of(setup), student_of(setup), loss, sgd(), o);
  });
  if (!built) {
    std::cerr << l.describe() << ": " << built.message() << std::endl;
    std::exit(1);
  }
  auto pipeline = std::move(built).value();
  for (int step = 0; step < kSteps; ++step) {
    if (step == failure.at_step && l.rank == 1) {
      std::cout << l.describe() << ": raising " << (failure.signal == SIGKILL ? "SIGKILL" : "SIGSTOP") << " now, as the test asks" << std::endl;
      std::raise(failure.signal);
    }
    const Batch shard = shard_of(whole_batch(setup, l.replicas, step), l.replica());
    pipeline->feed(shard.views, shard.labels);
  }
  pipeline->flush();
  return pipeline;
}

void compare(mpi::MpiSession& session, const Setup& setup, tspipe::Pipeline<B>& got, Reference& ref, bool losses_are_whole_batch) {
  const auto& l = session.layout();
  const int s = l.stage();
  const double student = max_relative_difference(stage_values(got, s, false), stage_values(*ref.pipeline, s, false));
  check(student < 1e-5, l, setup.name + ": student stage " + std::to_string(s) + " vs in-process, relative difference " + scientific(student));
  const double teacher = max_relative_difference(stage_values(got, s, true), stage_values(*ref.pipeline, s, true));
  check(teacher < 1e-5, l, setup.name + ": teacher stage " + std::to_string(s) + " vs in-process, relative difference " + scientific(teacher));
  const auto losses = got.take_losses();
  if (s != kStages - 1) {
    check(losses.empty(), l, setup.name + ": no losses where the last stage does not run");
    return;
  }
  check(losses.size() == ref.losses.size(), l, setup.name + ": " + std::to_string(losses.size()) + " losses reported");
  if (!losses_are_whole_batch) return;
  double worst = 0.0;
  for (std::size_t i = 0; i < std::min(losses.size(), ref.losses.size()); ++i)
    worst = std::max(worst, std::abs(losses[i].loss - ref.losses[i].loss) / std::max(1e-12, std::abs(ref.losses[i].loss)));
  check(worst < 1e-5, l, setup.name + ": losses vs in-process, relative difference " + scientific(worst));
}

/// Every rank waits for the others (30 s at most, then the job ends).
void barrier(mpi::MpiSession& session) {
  MPI_Comm comm = session.control_comm();
  if (tspipe::Status s = session.engine().run("MPI_Ibarrier", [comm](MPI_Request* r) { return MPI_Ibarrier(comm, r); }, std::chrono::seconds(30)); !s)
    session.abort_job(s.message());
}

/// See "engine" at the top. The sender sleeps instead of computing: either way its thread makes
/// no MPI call, and the message must not wait for its next one.
void engine(mpi::MpiSession& session) {
  using Clock = std::chrono::steady_clock;
  const auto& l = session.layout();
  mpi::MpiTransport<tspipe::nn::Tensor> transport(session);
  const tspipe::runtime::MessageKey key{tspipe::schedule::ActionKind::StudentForward, 0, 0, 0};
  const auto value = tspipe::nn::Tensor::randn({256, 1024}, 5);  // 1 MiB: past every eager limit
  const auto busy = std::chrono::milliseconds(1000), limit = std::chrono::milliseconds(400);
  barrier(session);
  const auto start = Clock::now();
  if (l.stage() == 0) {
    tspipe::Status sent = transport.send(1, key, value, std::chrono::seconds(10));
    check(sent.ok(), l, "send of a 1 MiB tensor: " + (sent ? std::string("posted") : sent.message()));
    std::this_thread::sleep_for(busy);
  } else {
    auto got = transport.receive(1, key, std::chrono::seconds(10));
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
    check(got && got.value().shape() == value.shape() && std::equal(value.span().begin(), value.span().end(), got.value().span().begin()), l,
          "the 1 MiB tensor arrived intact" + (got ? std::string() : ": " + got.message()));
    check(took < limit, l,
          "it arrived after " + std::to_string(took.count()) + " ms while its sender made no MPI call for " + std::to_string(busy.count()) +
              " ms (limit " + std::to_string(limit.count()) + " ms)");
  }
  barrier(session);
  const double before = process_cpu_seconds();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double used_ms = 1e3 * (process_cpu_seconds() - before);
  // A background thread polling on a timer while idle costs 11-17 ms per second (every 2 ms) to
  // 55 ms (every 200 µs) here (bench/RESULTS.md, "MPI launch"); 5 ms leaves room for noise only.
  check(used_ms < 5.0, l, "an idle session used " + std::to_string(used_ms) + " ms of CPU in 1 s (limit 5 ms: nothing polls while nothing is in flight)");
}

/// See "chunks-refused" at the top.
void chunks_refused(mpi::MpiSession& session) {
  const auto& l = session.layout();
  const Setup setup{"KD", false, "interleaved-1f1b"};
  tspipe::PipelineOptions options = options_for(setup, kShard);
  options.chunks = 2;
  const std::string expected = "make_pipeline: chunks = 2: virtual stages run only with every device in one process";
  const auto refused = [&](const std::string& when) {
    int built = 0;
    auto got = mpi::make_pipeline<B>(session, options, [&](const tspipe::PipelineOptions& o) {
      ++built;
      return std::make_unique<tspipe::Pipeline<B>>(teacher_of(setup), student_of(setup), loss_of(setup), sgd(), o);
    });
    const bool named = !got && got.message().find(expected) != std::string::npos;
    check(named && built == 0, l,
          when + ": chunks = 2 refused" + (got ? std::string(" -- NOT: it was built") : ": " + got.message()) +
              (built ? ", but the build function ran" : ""));
  };
  for (int turn = 0; turn < l.world_size; ++turn) {
    if (l.rank == turn) refused("rank " + std::to_string(turn) + " alone");
    barrier(session);
  }
  refused("every rank at once");
  barrier(session);  // no rank is left in a collective of make_pipeline's
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  B::set_threads(1);  // several ranks share few cores
  auto started = mpi::MpiSession::start(kStages);
  if (!started) {
    std::cerr << "tspipe MPI test: " << started.message() << std::endl;
    return 1;
  }
  mpi::MpiSession& session = *started.value();
  const auto& l = session.layout();

  if (mode == "single-replica") {
    for (const Setup& setup : {Setup{"KD", false, "1f1b"}, Setup{"SSL", true, "gpipe"}}) {
      auto got = distributed_run(session, setup, loss_of(setup));
      auto ref = reference_run(setup, 1, got->partition());
      compare(session, setup, *got, ref, true);
    }
  } else if (mode == "replicas" && argc > 2) {
    const std::filesystem::path checkpoint = argv[2];
    for (const Setup& setup : {Setup{"KD (per-sample loss)", false, "1f1b"}, Setup{"SSL (InfoNCE, gathered)", true, "gpipe"}}) {
      // The KD loss averages over samples: averaging the replicas' gradients is the whole-batch
      // gradient without gathering. InfoNCE needs every negative: GatheredLoss.
      std::shared_ptr<const tspipe::nn::Loss> loss = loss_of(setup);
      if (setup.ssl) loss = std::make_shared<mpi::GatheredLoss>(session, loss);
      auto got = distributed_run(session, setup, loss);
      auto ref = reference_run(setup, l.replicas, got->partition());
      compare(session, setup, *got, ref, setup.ssl);
      if (!setup.ssl) continue;
      // One file from rank 0, restored in a single process (another layout, same S).
      if (tspipe::Status saved = mpi::save_checkpoint(session, *got, checkpoint); !saved) {
        check(false, l, saved.message());
        continue;
      }
      tspipe::Pipeline<B> restored(teacher_of(setup), student_of(setup), loss_of(setup), sgd(), ref.pipeline->options());
      restored.load(checkpoint);
      const double student = max_relative_difference(values_of(restored.student_parameters()), values_of(ref.pipeline->student_parameters()));
      const double teacher = max_relative_difference(values_of(restored.teacher_parameters()), values_of(ref.pipeline->teacher_parameters()));
      check(student < 1e-5 && teacher < 1e-5, l,
            "checkpoint of the R = 2 run restored in one process: every stage's student and teacher (differences " +
                scientific(student) + ", " + scientific(teacher) + ")");
      check(restored.batches_done() == kSteps, l, "checkpoint step " + std::to_string(restored.batches_done()));
    }
  } else if (mode == "batchnorm" && argc > 2) {
    const Setup setup{"BatchNorm", false, "1f1b", true};
    auto got = distributed_run(session, setup, loss_of(setup));
    const auto replicas = in_process_replicas(setup, l.replicas, got->partition());
    const int s = l.stage();
    auto& mine = got->stage(s);
    auto& ref = replicas[static_cast<std::size_t>(l.replica())]->stage(s);
    const auto running = buffers_of(mine.student.buffers());
    double spread = 0.0;
    for (const auto& [name, values] : running)
      for (float v : values) spread = std::max(spread, static_cast<double>(std::abs(v - (name.find("running_var") != std::string::npos ? 1.0f : 0.0f))));
    check(!running.empty() && spread > 1e-3, l, "stage " + std::to_string(s) + " has BatchNorm running statistics that training moved");
    const double student = max_relative_difference(values_of(mine.student.parameters()), values_of(ref.student.parameters()));
    const double teacher = max_relative_difference(values_of(mine.teacher.parameters()), values_of(ref.teacher.parameters()));
    const double student_stats = max_relative_difference(running, buffers_of(ref.student.buffers()));
    const double teacher_stats = max_relative_difference(buffers_of(mine.teacher.buffers()), buffers_of(ref.teacher.buffers()));
    check(student < 1e-5 && teacher < 1e-5, l,
          "parameters vs in-process replicas averaging at OPT (student " + scientific(student) + ", teacher " + scientific(teacher) + ")");
    check(student_stats < 1e-5 && teacher_stats < 1e-5, l,
          "running statistics vs in-process replicas averaging at OPT (student " + scientific(student_stats) + ", teacher " +
              scientific(teacher_stats) + ")");
    // Replica 0's stages make the checkpoint: it must hold the averaged statistics, the same as
    // every replica's.
    const std::filesystem::path checkpoint = argv[2];
    if (tspipe::Status saved = mpi::save_checkpoint(session, *got, checkpoint); !saved) check(false, l, saved.message());
    tspipe::Pipeline<B> restored(teacher_of(setup), student_of(setup), loss_of(setup), sgd(), replicas.back()->options());
    restored.load(checkpoint);
    double restored_stats = 0.0;
    for (int t = 0; t < kStages; ++t)
      restored_stats = std::max({restored_stats,
                                 max_relative_difference(buffers_of(restored.stage(t).student.buffers()),
                                                         buffers_of(replicas.back()->stage(t).student.buffers())),
                                 max_relative_difference(buffers_of(restored.stage(t).teacher.buffers()),
                                                         buffers_of(replicas.back()->stage(t).teacher.buffers()))});
    check(restored_stats < 1e-5, l, "the checkpoint (replica 0's stages) holds the statistics every replica holds (difference " + scientific(restored_stats) + ")");
  } else if (mode == "killed") {
    distributed_run(session, Setup{"KD", false, "1f1b"}, loss_of(Setup{}), Failure{.at_step = 3});
    check(false, l, "the run finished although rank 1 died");
  } else if (mode == "stalled") {
    distributed_run(session, Setup{"KD", false, "1f1b"}, loss_of(Setup{}),
                    Failure{.at_step = 3, .signal = SIGSTOP, .watchdog = std::chrono::milliseconds(3000)});
    check(false, l, "the run finished although rank 1 stopped");
  } else if (mode == "engine") {
    engine(session);
  } else if (mode == "chunks-refused") {
    chunks_refused(session);
  } else {
    std::cerr << "usage: mpirun -np 2 " << argv[0] << " single-replica | mpirun -np 4 " << argv[0]
              << " replicas|batchnorm <checkpoint> | mpirun -np 2 " << argv[0] << " killed|stalled|engine|chunks-refused" << std::endl;
    return 2;
  }
  return failures == 0 ? 0 : 1;
}
