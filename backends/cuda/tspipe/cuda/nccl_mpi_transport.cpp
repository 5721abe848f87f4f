#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/nccl_link.hpp>
#include <tspipe/cuda/nccl_mpi_layout.hpp>
#include <tspipe/cuda/nccl_mpi_transport.hpp>
#include <tspipe/distributed/mpi.hpp>

#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>

namespace tspipe::cuda {

namespace mpi = distributed::mpi;
static_assert(nccl::LinkSplit::kNoColor == NCCL_SPLIT_NOCOLOR);

Result<ncclUniqueId> broadcast_unique_id(mpi::MpiSession& session) {
  std::vector<std::byte> bytes;
  std::string failure;
  if (session.layout().rank == 0) {
    ncclUniqueId id{};
    try {
      TSPIPE_NCCL_CHECK(ncclGetUniqueId(&id));
      bytes.resize(sizeof id);
      std::memcpy(bytes.data(), &id, sizeof id);
    } catch (const std::exception& e) {
      failure = e.what();  // broadcast nothing: every rank then fails below
    }
  }
  if (Status s = mpi::broadcast_bytes(session, bytes, 0, "the NCCL unique id"); !s) return Result<ncclUniqueId>::failure(s.message());
  if (bytes.size() != sizeof(ncclUniqueId))
    return Result<ncclUniqueId>::failure(failure.empty() ? "rank 0 could not make the NCCL unique id (its message is in its output)"
                                                         : failure);
  ncclUniqueId id{};
  std::memcpy(&id, bytes.data(), sizeof id);
  return id;
}

int default_device(const mpi::RankLayout& layout, int devices) {
  int local = layout.rank;
  for (const char* variable : {"OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID", "SLURM_LOCALID"})
    if (const char* value = std::getenv(variable)) {
      local = std::atoi(value);
      break;
    }
  return devices > 0 ? local % devices : 0;
}

struct NcclMpiTransport::Impl {
  ncclComm_t world = nullptr;
  ncclComm_t replicas = nullptr;  ///< this stage's replicas (R > 1)
  std::map<int, std::unique_ptr<nccl::LinkEnd>> sending;    ///< by the stage sent to
  std::map<int, std::unique_ptr<nccl::LinkEnd>> receiving;  ///< by the stage received from
  nccl::Inbox inbox;

  nccl::LinkEnd& end(std::map<int, std::unique_ptr<nccl::LinkEnd>>& ends, int stage, const char* what, const mpi::RankLayout& l) {
    auto it = ends.find(stage);
    if (it == ends.end())
      throw Error("NcclMpiTransport: " + l.describe() + " has no link " + what + " stage " + std::to_string(stage));
    return *it->second;
  }

  /// Every communicator, links first (they were cut from `world`).
  std::vector<ncclComm_t*> communicators() {
    std::vector<ncclComm_t*> all;
    for (auto* ends : {&sending, &receiving})
      for (auto& [stage, e] : *ends) all.push_back(&e->comm);
    all.push_back(&replicas);
    all.push_back(&world);
    return all;
  }
};

NcclMpiTransport::NcclMpiTransport(mpi::MpiSession& session, int device)
    : session_(session), device_(device), impl_(std::make_unique<Impl>()) {}

NcclMpiTransport::~NcclMpiTransport() {
  // A link with a header receive still posted (its receive timed out) is aborted: destroying it
  // would first wait for a message that may never come.
  for (auto& [stage, end] : impl_->receiving)
    if (end->comm && end->header_pending) {
      (void)ncclCommAbort(end->comm);
      end->comm = nullptr;
    }
  for (ncclComm_t* comm : impl_->communicators())
    if (*comm) (void)ncclCommDestroy(*comm);
}

Result<std::shared_ptr<NcclMpiTransport>> NcclMpiTransport::create(mpi::MpiSession& session, int device) {
  using R = Result<std::shared_ptr<NcclMpiTransport>>;
  const mpi::RankLayout& l = session.layout();

  // 1. This rank's GPU, then every rank's (host, GPU) on every rank: each sees which ranks have no
  //    GPU or share one, and all fail alike.
  std::string failure;
  if (const Result<int> devices = device_count(); !devices) failure = devices.message();
  else if (device < 0) device = default_device(l, devices.value());
  else if (device >= devices.value())
    failure = "asked for cuda:" + std::to_string(device) + " but " + std::to_string(devices.value()) + " device(s) exist";
  char host[256] = {};
  (void)gethostname(host, sizeof host - 1);
  const std::vector<long long> mine{static_cast<long long>(std::hash<std::string>{}(host)), failure.empty() ? device : -1};
  auto gathered = mpi::all_gather_equal(session, session.control_comm(), l.world_size, mine, MPI_LONG_LONG, "the ranks' hosts and GPUs");
  if (!gathered) return R::failure("NcclMpiTransport: " + gathered.message());
  const auto& all = gathered.value();
  if (!failure.empty()) return R::failure("NcclMpiTransport: " + l.describe() + ": " + failure);
  for (int r = 0; r < l.world_size; ++r)
    if (all[static_cast<size_t>(2 * r + 1)] < 0)
      return R::failure("NcclMpiTransport: " + l.describe(r) + " has no usable GPU (its message is in its output)");
  for (int r = 0; r < l.world_size; ++r)
    for (int q = r + 1; q < l.world_size; ++q)
      if (all[static_cast<size_t>(2 * r)] == all[static_cast<size_t>(2 * q)] &&
          all[static_cast<size_t>(2 * r + 1)] == all[static_cast<size_t>(2 * q + 1)])
        return R::failure("NcclMpiTransport: " + l.describe(r) + " and " + l.describe(q) + " are both on cuda:" +
                          std::to_string(all[static_cast<size_t>(2 * r + 1)]) +
                          " of one host; NCCL needs a GPU per rank (start at most as many ranks per node as it has GPUs)");

  // 2. The unique id.
  const auto id = broadcast_unique_id(session);
  if (!id) return R::failure("NcclMpiTransport: " + id.message());

  // 3 and 4. Communicators and a first word over every link. Blocking NCCL calls: every rank has
  // just answered over MPI, and a rank lost from here on makes mpirun end the job.
  std::shared_ptr<NcclMpiTransport> transport(new NcclMpiTransport(session, device));
  Impl& impl = *transport->impl_;
  const Status made = try_call([&] {
    TSPIPE_CUDA_CHECK(cudaSetDevice(device));
    const Stream here = Stream::compute(Device{device});
    const StreamGuard on_device(here);  // the allocations below go to this rank's GPU
    TSPIPE_NCCL_CHECK(ncclCommInitRank(&impl.world, l.world_size, id.value(), l.rank));
    for (const nccl::LinkSplit& split : nccl::link_splits(l)) {
      ncclComm_t comm = nullptr;
      TSPIPE_NCCL_CHECK(ncclCommSplit(impl.world, split.color, split.key, &comm, nullptr));
      if (split.color == nccl::LinkSplit::kNoColor) continue;
      auto end = std::make_unique<nccl::LinkEnd>();
      end->comm = comm;
      end->peer = 1 - split.key;
      const bool receiving = split.receive_from >= 0;
      nccl::prepare_end(*end, device, receiving);
      (receiving ? impl.receiving[split.receive_from] : impl.sending[split.send_to]) = std::move(end);
    }
    if (l.replicas > 1) TSPIPE_NCCL_CHECK(ncclCommSplit(impl.world, l.stage(), l.replica(), &impl.replicas, nullptr));

    Tensor word = Tensor::zeros({1});
    TSPIPE_NCCL_CHECK(ncclGroupStart());
    for (auto& [stage, end] : impl.sending) {
      stream_wait(Stream{here.device, end->stream}, here);
      TSPIPE_NCCL_CHECK(ncclSend(word.data(), 1, ncclFloat32, end->peer, end->comm, end->stream));
    }
    std::vector<Tensor> received;
    for (auto& [stage, end] : impl.receiving) {
      received.push_back(Tensor::zeros({1}));
      stream_wait(Stream{here.device, end->stream}, here);
      TSPIPE_NCCL_CHECK(ncclRecv(received.back().data(), 1, ncclFloat32, end->peer, end->comm, end->stream));
    }
    TSPIPE_NCCL_CHECK(ncclGroupEnd());
    for (auto* ends : {&impl.sending, &impl.receiving})
      for (auto& [stage, end] : *ends) TSPIPE_CUDA_CHECK(cudaStreamSynchronize(end->stream));
  });
  const auto everywhere = mpi::on_every_rank(session, made.ok(), "the NCCL set-up results");
  if (!everywhere) return R::failure("NcclMpiTransport: " + everywhere.message());
  if (!made) return R::failure("NcclMpiTransport: " + l.describe() + ": " + made.message());
  if (!everywhere.value()) return R::failure("NcclMpiTransport: another rank could not set up NCCL (its message is in its output)");
  return R(std::move(transport));
}

Status NcclMpiTransport::send(int to, const runtime::MessageKey& key, Tensor value, std::chrono::milliseconds timeout) {
  if (impl_->inbox.stopped()) return Status::failure(impl_->inbox.stop_reason());
  const mpi::RankLayout& l = session_.layout();
  return try_call([&] {
    if (nccl::source_stage(to, key) != l.stage())
      throw Error("NcclMpiTransport: " + l.describe() + " cannot send the " + runtime::describe(key) + " to stage " + std::to_string(to) +
                  ": it comes from stage " + std::to_string(nccl::source_stage(to, key)));
    const Stream here = current_stream();
    if (here.device.index != device_)
      throw Error("NcclMpiTransport: the sending thread's current stream is on " + here.device.name() + ", the transport on cuda:" +
                  std::to_string(device_));
    nccl::LinkEnd& end = impl_->end(impl_->sending, to, "to", l);
    std::lock_guard lock(end.mutex);
    nccl::send_message(end, key, value, here, std::chrono::steady_clock::now() + timeout);
  });
}

Result<Tensor> NcclMpiTransport::receive(int at, const runtime::MessageKey& key, std::chrono::milliseconds timeout) {
  if (impl_->inbox.stopped()) return Result<Tensor>::failure(impl_->inbox.stop_reason());
  const mpi::RankLayout& l = session_.layout();
  return try_call([&]() -> Tensor {
    if (at != l.stage())
      throw Error("NcclMpiTransport: " + l.describe() + " cannot receive for stage " + std::to_string(at));
    const Stream here = current_stream();
    if (here.device.index != device_)
      throw Error("NcclMpiTransport: the receiving thread's current stream is on " + here.device.name() + ", the transport on cuda:" +
                  std::to_string(device_));
    const int from = nccl::source_stage(at, key);
    const int from_rank = l.rank_of(l.replica(), from);
    nccl::LinkEnd& end = impl_->end(impl_->receiving, from, "from", l);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::lock_guard lock(end.mutex);
    // The termination note names the rank waited on if mpirun ends this one meanwhile.
    const mpi::WaitingOnRank waiting(from_rank);
    // Take messages from the peer in the order it sent them until ours has come.
    for (;;) {
      if (auto arrived = impl_->inbox.try_take(at, key)) return nccl::Inbox::claim(std::move(*arrived), here);
      auto next = nccl::receive_next(end, here, deadline, impl_->inbox.stopped_flag());
      if (!next) {
        if (impl_->inbox.stopped()) throw Error(impl_->inbox.stop_reason());
        throw Error("stage " + std::to_string(at) + " waited " + std::to_string(timeout.count()) + " ms for the " + runtime::describe(key) +
                    " from " + l.describe(from_rank) + ": that rank is lost or stalled");
      }
      impl_->inbox.put(at, next->first, std::move(next->second));
    }
  });
}

void NcclMpiTransport::stop(const std::string& reason) {
  impl_->inbox.stop(reason);
  // Receivers polling a header see the stop flag and let go of their end; a stream waiting inside
  // NCCL on a peer is released by aborting the communicators.
  for (auto* ends : {&impl_->sending, &impl_->receiving})
    for (auto& [stage, end] : *ends) {
      std::lock_guard lock(end->mutex);
      if (end->comm) (void)ncclCommAbort(end->comm);
      end->comm = nullptr;
    }
  session_.abort_job(reason);
}

Status NcclMpiTransport::average_over_replicas(const std::vector<Tensor*>& tensors) {
  if (session_.layout().replicas == 1) return {};
  return try_call([&] {
    const Stream here = current_stream();
    if (here.device.index != device_)
      throw Error("NcclMpiTransport: the averaging thread's current stream is on " + here.device.name() + ", the transport on cuda:" +
                  std::to_string(device_));
    TSPIPE_NCCL_CHECK(ncclGroupStart());
    for (Tensor* t : tensors)
      TSPIPE_NCCL_CHECK(ncclAllReduce(t->data(), t->data(), static_cast<size_t>(t->numel()), ncclFloat32, ncclAvg, impl_->replicas, here.handle));
    TSPIPE_NCCL_CHECK(ncclGroupEnd());
  });
}

std::size_t NcclMpiTransport::pending() { return impl_->inbox.pending(); }

}  // namespace tspipe::cuda
