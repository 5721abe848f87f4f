#pragma once
// tspipe over several processes and machines, launched by mpirun: one rank per stage of each of
// R pipeline replicas (rank = replica · S + stage; see RankLayout).
//
//   auto session = tspipe::runtime::mpi::MpiSession::start(/*stages=*/2);   // MPI_Init
//   if (!session) { std::cerr << session.message() << "\n"; return 1; }
//   auto& mpi = *session.value();
//   auto pipeline = tspipe::runtime::mpi::make_pipeline<Backend>(mpi, options, [&](const auto& o) {
//     return std::make_unique<tspipe::Pipeline<Backend>>(teacher(), student(), loss, optimizer, o);
//   });                                     // same partition and schedule on every rank
//   for (...) pipeline->feed(this_replicas_shard_of_the_batch, labels);
//   if (mpi.layout().logs()) print(pipeline->take_losses());
//   tspipe::runtime::mpi::save_checkpoint(mpi, *pipeline, path);   // rank 0 writes the file
//
// What it adds to a Pipeline (through its Distribution hooks):
//   * MpiTransport: activations and gradients between the ranks of a replica (CPU tensors; a
//     device backend's tensors travel through host memory — NCCL is the GPU path);
//   * with R > 1 replicas (data parallelism): each stage's student gradients are averaged over
//     the replicas right before OPT, so every replica takes the same step and the momentum
//     teacher's EMA stays identical everywhere; each replica feeds its own shard of the batch;
//     BatchNorm running statistics are averaged at the same moment (see running_statistics), so
//     every replica, and every checkpoint, holds the same ones;
//   * GatheredLoss: for losses that need the whole batch (InfoNCE's negatives), the last stages
//     all-gather the embeddings of every replica and each computes the loss on the whole batch;
//   * checkpoints: every rank's stages are gathered to rank 0, which writes one file; it loads on
//     any layout with the same S (or in one process).
//   * failures: a rank whose pipeline fails prints what failed (naming the rank it waited on when
//     its watchdog fires) and ends the job; a rank terminated by mpirun because a peer died says
//     which rank it was waiting on. Nothing waits forever.
#include <tspipe/nn/losses.hpp>
#include <tspipe/nn/safetensors.hpp>
#include <tspipe/pipeline.hpp>
#include <tspipe/runtime/mpi_session.hpp>

#include <climits>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace tspipe::runtime::mpi {

// ---- tensor messages ------------------------------------------------------------------------

/// Header (see CommunicationThread::message_header) + shape + values: tensors carry their shape.
template <class Tensor>
std::vector<std::byte> encode_tensor_message(int to_stage, const MessageKey& key, const Tensor& value) {
  const auto values = TensorOps<Tensor>::host(value);
  const auto& shape = value.shape();
  std::vector<std::int64_t> header{to_stage, static_cast<std::int64_t>(key.consumer), key.batch, key.view, key.micro_batch,
                                   static_cast<std::int64_t>(shape.size())};
  for (auto d : shape) header.push_back(static_cast<std::int64_t>(d));
  std::vector<std::byte> bytes(header.size() * sizeof(std::int64_t) + values.size() * sizeof(float));
  std::memcpy(bytes.data(), header.data(), header.size() * sizeof(std::int64_t));
  if (!values.empty()) std::memcpy(bytes.data() + header.size() * sizeof(std::int64_t), values.data(), values.size() * sizeof(float));
  return bytes;
}

template <class Tensor>
Result<Tensor> decode_tensor_message(const std::vector<std::byte>& bytes) {
  constexpr std::size_t word = sizeof(std::int64_t);
  const auto fail = [](const std::string& what) { return Result<Tensor>::failure("malformed tensor message: " + what); };
  if (bytes.size() < 6 * word) return fail("shorter than its header");
  std::int64_t rank = 0;
  std::memcpy(&rank, bytes.data() + 5 * word, word);
  if (rank < 0 || bytes.size() < (6 + static_cast<std::size_t>(rank)) * word) return fail("shape cut short");
  nn::Shape shape(static_cast<std::size_t>(rank));
  std::size_t count = 1;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    std::int64_t d = 0;
    std::memcpy(&d, bytes.data() + (6 + i) * word, word);
    if (d < 0) return fail("negative extent");
    shape[i] = d;
    count *= static_cast<std::size_t>(d);
  }
  const std::size_t offset = (6 + shape.size()) * word;
  if (bytes.size() - offset != count * sizeof(float))
    return fail(std::to_string(bytes.size() - offset) + " value bytes for shape " + nn::to_string(shape));
  // Copied straight into the tensor: the values start a whole number of int64 words into a buffer
  // from operator new (aligned for any scalar), so they are aligned for float.
  return TensorOps<Tensor>::from_rows(shape, reinterpret_cast<const float*>(bytes.data() + offset));
}

/// Activations and gradients between the ranks of one replica, keyed like the in-process
/// transport: a receiver takes exactly the message its action needs, in whatever order they came.
/// Sends return once posted (the communication engine owns the buffer), so a sender never blocks
/// on a busy receiver; a receive waits up to the pipeline's watchdog and then names the rank.
template <class Tensor>
class MpiTransport final : public Transport<Tensor> {
 public:
  explicit MpiTransport(MpiSession& session) : session_(session) {}

  Status send(int to, const MessageKey& key, Tensor value, std::chrono::milliseconds) override {
    const RankLayout& l = session_.layout();
    auto message = encode_tensor_message(to, key, value);
    const int rank = l.rank_of(l.replica(), to);
    if (rank == l.rank) return session_.communication().deliver_locally(to, key, std::move(message));
    session_.communication().send(rank, std::move(message));
    return {};
  }

  Result<Tensor> receive(int at, const MessageKey& key, std::chrono::milliseconds timeout) override {
    const RankLayout& l = session_.layout();
    const int producer = schedule::is_student_backward(key.consumer) ? at + 1 : at - 1;
    auto message = session_.communication().take(at, key, l.rank_of(l.replica(), producer), timeout);
    if (!message) return Result<Tensor>::failure(message.message());
    return decode_tensor_message<Tensor>(message.value());
  }

  /// The pipeline stops its transport when one of its stages failed: in an MPI job the other
  /// ranks hold messages and collectives that can never complete, so the job ends here, with
  /// the reason printed.
  void stop(const std::string& reason) override { session_.abort_job(reason); }

 private:
  MpiSession& session_;
};

// ---- collectives ------------------------------------------------------------------------------

/// Replaces every gradient in `gradients`, and every value in `statistics` (BatchNorm running
/// statistics, see running_statistics), by its mean over the replicas of this rank's stage, in
/// one packed all-reduce per step. Every replica then takes the same optimizer step from the same
/// state.
inline Status average_over_replicas(MpiSession& session, const std::vector<nn::ParamSlot>& gradients,
                                    const std::vector<std::span<float>>& statistics = {}) {
  const int replicas = session.layout().replicas;
  if (replicas == 1) return {};
  std::vector<std::span<float>> parts;
  for (const auto& slot : gradients) parts.push_back(slot.grad);
  parts.insert(parts.end(), statistics.begin(), statistics.end());
  std::size_t total = 0;
  for (const auto& part : parts) total += part.size();
  if (total > static_cast<std::size_t>(INT_MAX)) return Status::failure("replica average: more than INT_MAX values in one stage");
  std::vector<float> packed;
  packed.reserve(total);
  for (const auto& part : parts) packed.insert(packed.end(), part.begin(), part.end());
  MPI_Comm comm = session.replicas_comm();
  const Status reduced = session.communication().run(
      "MPI_Iallreduce of stage " + std::to_string(session.layout().stage()) + "'s gradients and running statistics over " + std::to_string(replicas) + " replicas",
      [&](MPI_Request* r) { return MPI_Iallreduce(MPI_IN_PLACE, packed.data(), static_cast<int>(total), MPI_FLOAT, MPI_SUM, comm, r); },
      session.options().collective_timeout);
  if (!reduced) return reduced;
  const float scale = 1.0f / static_cast<float>(replicas);
  std::size_t at = 0;
  for (const auto& part : parts)
    for (float& value : part) value = packed[at++] * scale;
  return {};
}

/// The BatchNorm running statistics of stage `s` that the replicas average at each OPT: the
/// student's, and the teacher's where the teacher policy derives them from the student's (copy or
/// average at EMA); a teacher that keeps its own never changes them.
///
/// Why: each replica's forwards update the running statistics with its own shard only, so without
/// this the replicas would drift apart and a checkpoint (replica 0's stages) would hold statistics
/// of 1/R of the data, depending on the layout. Averaged, every replica holds the same statistics
/// right after each OPT (and at the end of a run, hence in every checkpoint); as in DDP without
/// SyncBN, batches are still normalised with each shard's own statistics. The running mean equals
/// one process's on the whole batch where the shards' micro-batches line up (the update is linear
/// in the batch mean); the running variance is the mean of the shards' variances (without the
/// spread between the shards' means).
template <class B>
std::vector<typename B::Tensor*> running_statistics_tensors(Pipeline<B>& pipeline, int s) {
  auto& st = pipeline.stage(s);
  std::vector<typename B::Tensor*> statistics;
  for (auto& b : st.student.buffers()) statistics.push_back(b.value);
  if (pipeline.options().teacher.buffers != update::TeacherBuffers::keep)
    for (auto& b : st.teacher.buffers()) statistics.push_back(b.value);
  return statistics;
}

/// running_statistics_tensors as host memory (host tensors only).
template <class B>
std::vector<std::span<float>> running_statistics(Pipeline<B>& pipeline, int s) {
  std::vector<std::span<float>> statistics;
  for (auto* t : running_statistics_tensors(pipeline, s)) statistics.push_back(TensorOps<typename B::Tensor>::host(*t));
  return statistics;
}

/// How stage `s`'s student gradients and running statistics are averaged over its replicas right
/// before its OPT. Host tensors: average_over_replicas (MPI_Iallreduce of host memory). A device
/// backend specialises this beside its transport, which owns the device collectives (CUDA:
/// <tspipe/cuda/mpi_pipeline.hpp>, ncclAllReduce through cuda::NcclMpiTransport).
template <class B>
struct ReplicaAverage {
  static void run(MpiSession& session, Transport<typename B::Tensor>& /*transport*/, Pipeline<B>& pipeline, int s,
                  const std::vector<nn::ParamSlot>& gradients) {
    if (Status st = average_over_replicas(session, gradients, running_statistics(pipeline, s)); !st) throw Error(st.message());
  }
};

/// Every rank of `comm` contributes `local` (same length everywhere); returns the rank-ordered
/// concatenation.
template <class T>
Result<std::vector<T>> all_gather_equal(MpiSession& session, MPI_Comm comm, int ranks, const std::vector<T>& local, MPI_Datatype type,
                                        const std::string& what) {
  std::vector<T> all(local.size() * static_cast<std::size_t>(ranks));
  const Status gathered = session.communication().run(
      "MPI_Iallgather of " + what,
      [&](MPI_Request* r) {
        return MPI_Iallgather(local.data(), static_cast<int>(local.size()), type, all.data(), static_cast<int>(local.size()), type, comm, r);
      },
      session.options().collective_timeout);
  if (!gathered) return Result<std::vector<T>>::failure(gathered.message());
  return all;
}

/// Wraps a loss that needs the whole batch (InfoNCE: every sample is a negative of the others)
/// for R replicas: the last stage of each replica gathers every replica's student and teacher
/// outputs and labels (in replica order: the batch is the replicas' shards one after another),
/// computes `inner` on the whole batch, and keeps the gradient rows of its own shard. That slice
/// is scaled by R because the gradients are then averaged over the replicas: the sum of the
/// slices is the whole-batch gradient. Every replica reports the whole batch's loss. With R = 1
/// it is `inner`.
class GatheredLoss final : public nn::Loss {
 public:
  GatheredLoss(MpiSession& session, std::shared_ptr<const nn::Loss> inner) : session_(session), inner_(std::move(inner)) {}
  std::string_view name() const override { return inner_->name(); }

  nn::LossOutput compute(const nn::LossInput& input) const override {
    const int replicas = session_.layout().replicas;
    if (replicas == 1) return inner_->compute(input);
    MPI_Comm comm = session_.loss_comm();
    const auto gather_matrix = [&](const nn::MatrixView& m, const char* what) {
      auto all = all_gather_equal(session_, comm, replicas, std::vector<float>(m.data, m.data + m.size()), MPI_FLOAT, what);
      if (!all) throw Error("GatheredLoss: " + all.message());
      return std::move(all).value();
    };
    std::vector<std::vector<float>> student, teacher;
    nn::LossInput whole;
    for (std::size_t v = 0; v < input.student.size(); ++v) {
      student.push_back(gather_matrix(input.student[v], "the student embeddings"));
      whole.student.push_back({student.back().data(), input.student[v].rows * replicas, input.student[v].cols});
    }
    for (std::size_t v = 0; v < input.teacher.size(); ++v) {
      teacher.push_back(gather_matrix(input.teacher[v], "the teacher embeddings"));
      whole.teacher.push_back({teacher.back().data(), input.teacher[v].rows * replicas, input.teacher[v].cols});
    }
    std::vector<int> labels;
    if (!input.labels.empty()) {
      auto all = all_gather_equal(session_, comm, replicas, std::vector<int>(input.labels.begin(), input.labels.end()), MPI_INT, "the labels");
      if (!all) throw Error("GatheredLoss: " + all.message());
      labels = std::move(all).value();
      whole.labels = labels;
    }
    nn::LossOutput out = inner_->compute(whole);
    const auto replica = static_cast<std::size_t>(session_.layout().replica());
    for (std::size_t v = 0; v < out.d_student.size(); ++v) {
      const std::size_t shard = input.student[v].size();
      std::vector<float> mine(out.d_student[v].begin() + static_cast<std::ptrdiff_t>(replica * shard),
                              out.d_student[v].begin() + static_cast<std::ptrdiff_t>((replica + 1) * shard));
      for (float& g : mine) g *= static_cast<float>(replicas);
      out.d_student[v] = std::move(mine);
    }
    return out;
  }

 private:
  MpiSession& session_;
  std::shared_ptr<const nn::Loss> inner_;
};

/// Sends `bytes` from `root` to every rank of the control communicator (size first).
inline Status broadcast_bytes(MpiSession& session, std::vector<std::byte>& bytes, int root, const std::string& what) {
  MPI_Comm comm = session.control_comm();
  long long size = static_cast<long long>(bytes.size());
  const auto timeout = session.options().collective_timeout;
  if (Status s = session.communication().run("MPI_Ibcast of the size of " + what,
                                             [&](MPI_Request* r) { return MPI_Ibcast(&size, 1, MPI_LONG_LONG, root, comm, r); }, timeout);
      !s)
    return s;
  if (size > INT_MAX) return Status::failure("MPI_Ibcast of " + what + ": " + std::to_string(size) + " bytes exceed INT_MAX");
  bytes.resize(static_cast<std::size_t>(size));
  return session.communication().run("MPI_Ibcast of " + what,
                                     [&](MPI_Request* r) { return MPI_Ibcast(bytes.data(), static_cast<int>(size), MPI_BYTE, root, comm, r); },
                                     timeout);
}

/// Whether `mine` holds on every rank (MPI_Iallreduce, MIN, over the control communicator). A
/// step that may fail on some ranks ends with it, so that they all fail together instead of
/// leaving the others waiting in the next collective.
inline Result<bool> on_every_rank(MpiSession& session, bool mine, const std::string& what) {
  int all = mine ? 1 : 0;
  MPI_Comm comm = session.control_comm();
  if (Status s = session.communication().run("MPI_Iallreduce of " + what,
                                             [&](MPI_Request* r) { return MPI_Iallreduce(MPI_IN_PLACE, &all, 1, MPI_INT, MPI_MIN, comm, r); },
                                             session.options().collective_timeout);
      !s)
    return Result<bool>::failure(s.message());
  return all == 1;
}

/// Collects the checkpoint parts of replica 0's ranks (each holds its own stages) into `content`
/// on rank 0. Returns whether this rank writes the file (rank 0 only). Collective.
inline Result<bool> gather_checkpoint(MpiSession& session, nn::SafetensorsContent& content) {
  const RankLayout& l = session.layout();
  MPI_Comm comm = session.control_comm();
  const auto timeout = session.options().collective_timeout;
  // Replicas hold identical parameters; only replica 0's parts travel.
  std::vector<std::byte> part;
  if (l.replica() == 0 && !l.writes_checkpoints()) part = nn::serialize_safetensors(content);
  if (part.size() > static_cast<std::size_t>(INT_MAX))
    return Result<bool>::failure("checkpoint gather: " + l.describe() + "'s part exceeds INT_MAX bytes");
  int size = static_cast<int>(part.size());
  std::vector<int> sizes(static_cast<std::size_t>(l.world_size));
  if (Status s = session.communication().run("MPI_Igather of the checkpoint part sizes",
                                             [&](MPI_Request* r) { return MPI_Igather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, 0, comm, r); }, timeout);
      !s)
    return Result<bool>::failure(s.message());
  std::vector<int> offsets(sizes.size());
  long long total = 0;
  for (std::size_t r = 0; r < sizes.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += sizes[r];
  }
  if (l.writes_checkpoints() && total > INT_MAX) return Result<bool>::failure("checkpoint gather: the parts exceed INT_MAX bytes in all");
  std::vector<std::byte> all(l.writes_checkpoints() ? static_cast<std::size_t>(total) : 0);
  if (Status s = session.communication().run(
          "MPI_Igatherv of the checkpoint parts",
          [&](MPI_Request* r) {
            return MPI_Igatherv(part.data(), size, MPI_BYTE, all.data(), sizes.data(), offsets.data(), MPI_BYTE, 0, comm, r);
          },
          timeout);
      !s)
    return Result<bool>::failure(s.message());
  if (!l.writes_checkpoints()) return false;
  for (std::size_t r = 0; r < sizes.size(); ++r) {
    if (sizes[r] == 0) continue;
    const auto from = std::span<const std::byte>(all).subspan(static_cast<std::size_t>(offsets[r]), static_cast<std::size_t>(sizes[r]));
    nn::SafetensorsContent received = nn::parse_safetensors(from, "checkpoint part of " + l.describe(static_cast<int>(r)));
    for (auto& [name, tensor] : received.tensors) content.tensors[name] = std::move(tensor);
    for (auto& [key, value] : received.metadata) content.metadata.emplace(key, value);
  }
  return true;
}

/// Pipeline::save on every rank (collective): rank 0 writes the file with every stage; returns
/// once the file is complete, so any rank may read it next (paths on a filesystem every rank sees).
template <class B>
Status save_checkpoint(MpiSession& session, Pipeline<B>& pipeline, const std::filesystem::path& path) {
  try {
    pipeline.save(path);
  } catch (const std::exception& e) {
    return Status::failure(session.layout().describe() + ": saving '" + path.string() + "': " + e.what());
  }
  MPI_Comm comm = session.control_comm();
  return session.communication().run("MPI_Ibarrier after writing '" + path.string() + "'",
                                     [comm](MPI_Request* r) { return MPI_Ibarrier(comm, r); }, session.options().collective_timeout);
}

namespace detail {
/// Why a pipeline of device tensors cannot be distributed without a transport argument.
inline std::string missing_device_transport() {
  return "device tensors need a device transport (the transport argument, e.g. cuda::NcclMpiTransport::create); "
         "MpiTransport carries host tensors only";
}
}  // namespace detail

/// The hooks that spread `pipeline` over the ranks of `session` (see Distribution). `transport`
/// carries the activations and gradients: MpiTransport when null; a device backend passes its own
/// (cuda::NcclMpiTransport: GPU to GPU over NCCL).
template <class B>
typename Pipeline<B>::Distribution distribution(MpiSession& session, Pipeline<B>& pipeline,
                                               std::shared_ptr<Transport<typename B::Tensor>> transport = nullptr) {
  using Tensor = typename B::Tensor;
  typename Pipeline<B>::Distribution d;
  d.local_stages = {session.layout().stage()};
  if (transport) {
    d.transport = std::move(transport);
  } else if constexpr (std::is_same_v<Tensor, nn::Tensor>) {
    d.transport = std::make_shared<MpiTransport<Tensor>>(session);
  } else {
    throw Error("mpi::distribution: " + detail::missing_device_transport());
  }
  if (session.layout().replicas > 1)
    d.reduce_gradients = [&session, &pipeline, t = d.transport](int s, const auto& gradients) {
      ReplicaAverage<B>::run(session, *t, pipeline, s, gradients);
    };
  d.gather_checkpoint = [&session](nn::SafetensorsContent& content) {
    auto writer = gather_checkpoint(session, content);
    if (!writer) throw Error(writer.message());
    return writer.value();
  };
  return d;
}

namespace detail {
template <class B>
concept TakesProfiledCosts = requires(Pipeline<B>& p, const schedule::CostModel& costs) { p.set_profiled_costs(costs); };

/// Rank 0's cost model, on every rank (so the cost-aware generators order actions alike).
inline Status broadcast_costs(MpiSession& session, schedule::CostModel& costs) {
  static_assert(std::is_trivially_copyable_v<schedule::StageCost>);
  std::vector<std::byte> bytes(sizeof(double) + costs.stages.size() * sizeof(schedule::StageCost));
  std::memcpy(bytes.data(), &costs.per_action_overhead, sizeof(double));
  if (!costs.stages.empty()) std::memcpy(bytes.data() + sizeof(double), costs.stages.data(), costs.stages.size() * sizeof(schedule::StageCost));
  if (Status s = broadcast_bytes(session, bytes, 0, "the profiled cost model"); !s) return s;
  std::memcpy(&costs.per_action_overhead, bytes.data(), sizeof(double));
  costs.stages.resize((bytes.size() - sizeof(double)) / sizeof(schedule::StageCost));
  if (!costs.stages.empty()) std::memcpy(costs.stages.data(), bytes.data() + sizeof(double), costs.stages.size() * sizeof(schedule::StageCost));
  return {};
}
}  // namespace detail

/// Builds the pipeline on every rank with the same partition and schedule and distributes it.
/// `build` makes a Pipeline from options (the caller's models, loss and optimizer). With
/// automatic partitioning, rank 0 profiles and partitions; the others build with its cuts (each
/// process would otherwise profile its own timings and might cut differently). The timing profile
/// that the cost-aware generators order actions by is rank 0's too. `transport`: see distribution.
template <class B>
Result<std::unique_ptr<Pipeline<B>>> make_pipeline(MpiSession& session, PipelineOptions options,
                                                   const std::function<std::unique_ptr<Pipeline<B>>(const PipelineOptions&)>& build,
                                                   std::shared_ptr<Transport<typename B::Tensor>> transport = nullptr) {
  using R = Result<std::unique_ptr<Pipeline<B>>>;
  if constexpr (!std::is_same_v<typename B::Tensor, nn::Tensor>)
    if (!transport) return R::failure("make_pipeline: " + detail::missing_device_transport());
  const RankLayout& l = session.layout();
  if (options.stages != l.stages)
    return R::failure("make_pipeline: the options ask for " + std::to_string(options.stages) + " stages, the MPI session has " +
                      std::to_string(l.stages));
  std::unique_ptr<Pipeline<B>> pipeline;
  std::string build_error;
  const auto try_build = [&] {
    try {
      pipeline = build(options);
      if (!pipeline) build_error = "the build function returned null";
    } catch (const std::exception& e) {
      build_error = e.what();
    }
  };
  // Rank 0 builds first and sends [built?, teacher cuts…, student cuts…] to the others.
  if (l.rank == 0) try_build();
  std::vector<int> plan(static_cast<std::size_t>(1 + 2 * (l.stages - 1)), 0);
  if (l.rank == 0 && pipeline) {
    plan[0] = 1;
    const auto& p = pipeline->partition();
    for (int s = 1; s < l.stages; ++s) {
      plan[static_cast<std::size_t>(s)] = p.teacher_bounds[static_cast<std::size_t>(s)];
      plan[static_cast<std::size_t>(l.stages - 1 + s)] = p.student_bounds[static_cast<std::size_t>(s)];
    }
  }
  std::vector<std::byte> bytes(plan.size() * sizeof(int));
  std::memcpy(bytes.data(), plan.data(), bytes.size());
  if (Status s = broadcast_bytes(session, bytes, 0, "the partition"); !s) return R::failure(s.message());
  std::memcpy(plan.data(), bytes.data(), bytes.size());
  if (!plan[0]) return R::failure(l.rank == 0 ? "make_pipeline: " + build_error : "make_pipeline: rank 0 could not build the pipeline");
  if (l.rank != 0) {
    options.teacher_cuts.assign(plan.begin() + 1, plan.begin() + l.stages);
    options.student_cuts.assign(plan.begin() + l.stages, plan.end());
    try_build();
  }
  // Every rank says whether it built; all fail together rather than leave some waiting.
  const auto built = on_every_rank(session, pipeline != nullptr, "the build results");
  if (!built) return R::failure(built.message());
  if (!built.value()) return R::failure("make_pipeline: " + (pipeline ? std::string("another rank could not build the pipeline") : build_error));

  if constexpr (detail::TakesProfiledCosts<B>) {
    schedule::CostModel costs = pipeline->profiled_costs();
    if (Status s = detail::broadcast_costs(session, costs); !s) return R::failure(s.message());
    pipeline->set_profiled_costs(costs);
  } else {
    // Without a way to share rank 0's timing profile, check that every rank's own profile gives
    // the same first segment: differing orders could deadlock between ranks.
    auto generated = planning::generate(options.schedule, pipeline->workload(options.segment_batches));
    const std::string text = generated ? schedule::to_text(generated.value().schedule) : generated.message();
    std::vector<std::byte> mine(text.size());
    std::memcpy(mine.data(), text.data(), text.size());
    std::vector<std::byte> root = mine;
    if (Status s = broadcast_bytes(session, root, 0, "rank 0's schedule"); !s) return R::failure(s.message());
    const auto same = on_every_rank(session, root == mine, "the schedule check");
    if (!same) return R::failure(same.message());
    if (!same.value())
      return R::failure("make_pipeline: the ranks' own timing profiles give different '" + options.schedule +
                        "' schedules; use a schedule that ignores costs (gpipe, 1f1b, sequential, tspipe-paper)");
  }
  pipeline->set_distribution(distribution<B>(session, *pipeline, std::move(transport)));
  return R(std::move(pipeline));
}

}  // namespace tspipe::runtime::mpi
