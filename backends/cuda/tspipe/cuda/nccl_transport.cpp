#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/nccl_transport.hpp>

#include <nccl.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>

namespace tspipe::cuda {

namespace {
void check_nccl(ncclResult_t status, const char* call, const char* file, int line) {
  if (status != ncclSuccess) detail::throw_call_failure(call, ncclGetErrorString(status), file, line);
}
#define TSPIPE_NCCL_CHECK(call) check_nccl((call), #call, __FILE__, __LINE__)

// Header: consumer, batch, view, micro_batch, rank, dims[8].
constexpr int kHeaderWords = 13;
constexpr int kMaxDims = 8;

int source_stage(int at, const runtime::MessageKey& key) {
  return schedule::is_student_backward(key.consumer) ? at + 1 : at - 1;
}

struct Link {  // one direction between two stages on different GPUs
  ncclComm_t send_comm = nullptr, recv_comm = nullptr;  // rank 0 = sender, rank 1 = receiver
  cudaStream_t send_stream = nullptr, recv_stream = nullptr;
  std::mutex send_mutex, recv_mutex;
};

struct Handed {  // same-GPU hand-over
  Tensor value;
  cudaEvent_t ready = nullptr;
};
}  // namespace

struct NcclTransport::Impl {
  std::map<std::pair<int, int>, std::unique_ptr<Link>> links;  // (from, to)
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::pair<int, runtime::MessageKey>, Handed> inbox;  // (stage, key)
  std::atomic<bool> stopped{false};
  std::string stop_reason;

  Link& link(int from, int to) {
    auto it = links.find({from, to});
    if (it == links.end())
      throw Error("NcclTransport: no link from stage " + std::to_string(from) + " to stage " + std::to_string(to));
    return *it->second;
  }
};

NcclTransport::NcclTransport(std::vector<int> stage_devices)
    : devices_(std::move(stage_devices)), impl_(std::make_unique<Impl>()) {}

Result<std::unique_ptr<NcclTransport>> NcclTransport::create(std::vector<int> stage_devices) {
  return try_call([&]() -> std::unique_ptr<NcclTransport> {
    if (stage_devices.empty()) throw Error("NcclTransport: no stages");
    const int count = device_count().value();
    for (size_t s = 0; s < stage_devices.size(); ++s)
      if (stage_devices[s] < 0 || stage_devices[s] >= count)
        throw Error("NcclTransport: stage " + std::to_string(s) + " is on cuda:" + std::to_string(stage_devices[s]) +
                    " but " + std::to_string(count) + " device(s) exist");
    std::unique_ptr<NcclTransport> t(new NcclTransport(stage_devices));
    // Neighbouring stages on different GPUs get a link each way.
    for (int s = 0; s + 1 < static_cast<int>(stage_devices.size()); ++s)
      for (auto [from, to] : {std::pair{s, s + 1}, std::pair{s + 1, s}}) {
        const int df = stage_devices[static_cast<size_t>(from)], dt = stage_devices[static_cast<size_t>(to)];
        if (df == dt) continue;
        auto link = std::make_unique<Link>();
        std::array<ncclComm_t, 2> comms{};
        const std::array<int, 2> devs{df, dt};
        TSPIPE_NCCL_CHECK(ncclCommInitAll(comms.data(), 2, devs.data()));
        link->send_comm = comms[0];
        link->recv_comm = comms[1];
        link->send_stream = Stream::create(Device{df}).handle;
        link->recv_stream = Stream::create(Device{dt}).handle;
        t->impl_->links.emplace(std::pair{from, to}, std::move(link));
      }
    return t;
  });
}

NcclTransport::~NcclTransport() {
  for (auto& [key, link] : impl_->links) {
    if (link->send_comm) (void)ncclCommDestroy(link->send_comm);
    if (link->recv_comm) (void)ncclCommDestroy(link->recv_comm);
  }
  for (auto& [key, h] : impl_->inbox)
    if (h.ready) (void)cudaEventDestroy(h.ready);
}

Status NcclTransport::send(int to, const runtime::MessageKey& key, Tensor value, std::chrono::milliseconds timeout) {
  (void)timeout;  // NCCL sends are queued on the stream: they do not block the host
  if (impl_->stopped) return Status::failure(impl_->stop_reason);
  return try_call([&] {
    const int from = source_stage(to, key);
    if (to < 0 || to >= stages() || from < 0 || from >= stages())
      throw Error("NcclTransport: no stage " + std::to_string(to) + " to send the " + runtime::describe(key) + " to");
    if (!value.defined() || value.dim() > kMaxDims)
      throw Error("NcclTransport: cannot send the " + runtime::describe(key) + ": tensor undefined or over " +
                  std::to_string(kMaxDims) + " axes");
    const Stream here = current_stream();
    if (devices_[static_cast<size_t>(from)] == devices_[static_cast<size_t>(to)]) {
      cudaEvent_t ready = nullptr;
      TSPIPE_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
      TSPIPE_CUDA_CHECK(cudaEventRecord(ready, here.handle));
      std::lock_guard lock(impl_->mutex);
      auto [it, inserted] = impl_->inbox.try_emplace({to, key}, Handed{std::move(value), ready});
      if (!inserted) {
        (void)cudaEventDestroy(ready);
        throw Error("NcclTransport: stage " + std::to_string(to) + " already holds the " + runtime::describe(key));
      }
      impl_->changed.notify_all();
      return;
    }
    Link& link = impl_->link(from, to);
    std::lock_guard lock(link.send_mutex);
    std::array<int64_t, kHeaderWords> header{};
    header[0] = static_cast<int64_t>(key.consumer);
    header[1] = key.batch;
    header[2] = key.view;
    header[3] = key.micro_batch;
    header[4] = value.dim();
    for (int64_t d = 0; d < value.dim(); ++d) header[static_cast<size_t>(5 + d)] = value.size(d);
    // Header staged through a small device tensor; the payload is sent in place. Both stay alive
    // until the send stream is done with them (record_stream).
    Tensor header_dev({kHeaderWords * 2});
    TSPIPE_CUDA_CHECK(cudaMemcpyAsync(header_dev.data(), header.data(), sizeof(header), cudaMemcpyHostToDevice,
                                      here.handle));
    stream_wait(Stream{here.device, link.send_stream}, here);
    header_dev.record_stream(link.send_stream);
    value.record_stream(link.send_stream);
    TSPIPE_NCCL_CHECK(ncclSend(header_dev.data(), kHeaderWords, ncclInt64, 1, link.send_comm, link.send_stream));
    TSPIPE_NCCL_CHECK(ncclSend(value.data(), static_cast<size_t>(value.numel()), ncclFloat32, 1, link.send_comm,
                               link.send_stream));
  });
}

Result<Tensor> NcclTransport::receive(int at, const runtime::MessageKey& key, std::chrono::milliseconds timeout) {
  if (impl_->stopped) return Result<Tensor>::failure(impl_->stop_reason);
  return try_call([&]() -> Tensor {
    const int from = source_stage(at, key);
    if (at < 0 || at >= stages() || from < 0 || from >= stages())
      throw Error("NcclTransport: stage " + std::to_string(at) + " has no sender for the " + runtime::describe(key));
    const Stream here = current_stream();
    auto take = [&](Handed h) {
      TSPIPE_CUDA_CHECK(cudaStreamWaitEvent(here.handle, h.ready, 0));
      (void)cudaEventDestroy(h.ready);
      h.value.record_stream(here.handle);
      return std::move(h.value);
    };
    if (devices_[static_cast<size_t>(from)] == devices_[static_cast<size_t>(at)]) {
      std::unique_lock lock(impl_->mutex);
      const bool arrived = impl_->changed.wait_for(lock, timeout, [&] {
        return impl_->stopped.load() || impl_->inbox.count({at, key}) > 0;
      });
      if (impl_->stopped) throw Error(impl_->stop_reason);
      if (!arrived)
        throw Error("stage " + std::to_string(at) + " waited " + std::to_string(timeout.count()) + " ms for the " +
                    runtime::describe(key));
      auto node = impl_->inbox.extract({at, key});
      return take(std::move(node.mapped()));
    }
    // Pull messages from the peer in the order it sent them until ours arrives.
    Link& link = impl_->link(from, at);
    std::lock_guard recv_lock(link.recv_mutex);
    for (;;) {
      {
        std::lock_guard lock(impl_->mutex);
        if (impl_->stopped) throw Error(impl_->stop_reason);
        auto it = impl_->inbox.find({at, key});
        if (it != impl_->inbox.end()) {
          auto node = impl_->inbox.extract(it);
          return take(std::move(node.mapped()));
        }
      }
      const Stream recv{here.device, link.recv_stream};
      std::array<int64_t, kHeaderWords> header{};
      Tensor header_dev({kHeaderWords * 2});
      stream_wait(recv, here);  // header_dev's storage may have been used on `here` before
      header_dev.record_stream(link.recv_stream);
      TSPIPE_NCCL_CHECK(ncclRecv(header_dev.data(), kHeaderWords, ncclInt64, 0, link.recv_comm, link.recv_stream));
      TSPIPE_CUDA_CHECK(cudaMemcpyAsync(header.data(), header_dev.data(), sizeof(header), cudaMemcpyDeviceToHost,
                                        link.recv_stream));
      TSPIPE_CUDA_CHECK(cudaStreamSynchronize(link.recv_stream));
      runtime::MessageKey got;
      got.consumer = static_cast<schedule::ActionKind>(header[0]);
      got.batch = static_cast<long>(header[1]);
      got.view = static_cast<int>(header[2]);
      got.micro_batch = static_cast<int>(header[3]);
      nn::Shape shape(static_cast<size_t>(header[4]));
      for (size_t d = 0; d < shape.size(); ++d) shape[d] = header[5 + d];
      Tensor value(shape);
      stream_wait(recv, here);
      value.record_stream(link.recv_stream);
      TSPIPE_NCCL_CHECK(ncclRecv(value.data(), static_cast<size_t>(value.numel()), ncclFloat32, 0, link.recv_comm,
                                 link.recv_stream));
      cudaEvent_t ready = nullptr;
      TSPIPE_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
      TSPIPE_CUDA_CHECK(cudaEventRecord(ready, link.recv_stream));
      std::lock_guard lock(impl_->mutex);
      if (!impl_->inbox.try_emplace({at, got}, Handed{std::move(value), ready}).second) {
        (void)cudaEventDestroy(ready);
        throw Error("NcclTransport: stage " + std::to_string(at) + " received the " + runtime::describe(got) + " twice");
      }
    }
  });
}

void NcclTransport::stop(const std::string& reason) {
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stop_reason.empty()) impl_->stop_reason = reason.empty() ? "stopped" : reason;
    impl_->stopped = true;
  }
  impl_->changed.notify_all();
  // A receiver blocked inside NCCL is released by aborting the communicators.
  for (auto& [key, link] : impl_->links) {
    if (link->send_comm) (void)ncclCommAbort(link->send_comm);
    if (link->recv_comm) (void)ncclCommAbort(link->recv_comm);
    link->send_comm = link->recv_comm = nullptr;
  }
}

std::size_t NcclTransport::pending() {
  std::lock_guard lock(impl_->mutex);
  return impl_->inbox.size();
}

}  // namespace tspipe::cuda
