#include <tspipe/cuda/check.hpp>
#include <tspipe/cuda/nccl_link.hpp>
#include <tspipe/cuda/nccl_transport.hpp>

#include <array>
#include <map>

namespace tspipe::cuda {

namespace {
struct Link {  // one direction between two stages on different GPUs (see nccl_link.hpp)
  nccl::LinkEnd sending, receiving;
};

// A single process never loses a peer: waits on NCCL's host side have no deadline here.
constexpr auto kNoDeadline = std::chrono::steady_clock::time_point::max();
}  // namespace

struct NcclTransport::Impl {
  std::map<std::pair<int, int>, std::unique_ptr<Link>> links;  // (from, to)
  nccl::Inbox inbox;

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
        link->sending.comm = comms[0];
        link->sending.peer = 1;
        link->receiving.comm = comms[1];
        link->receiving.peer = 0;
        nccl::prepare_end(link->sending, df, /*receiving=*/false);
        nccl::prepare_end(link->receiving, dt, /*receiving=*/true);
        t->impl_->links.emplace(std::pair{from, to}, std::move(link));
      }
    return t;
  });
}

NcclTransport::~NcclTransport() {
  for (auto& [key, link] : impl_->links)
    for (nccl::LinkEnd* end : {&link->sending, &link->receiving})
      if (end->comm) (void)ncclCommDestroy(end->comm);
}

Status NcclTransport::send(int to, const runtime::MessageKey& key, Tensor value, std::chrono::milliseconds timeout) {
  (void)timeout;  // NCCL sends are queued on the stream: they do not block the host
  if (impl_->inbox.stopped()) return Status::failure(impl_->inbox.stop_reason());
  return try_call([&] {
    const int from = nccl::source_stage(to, key);
    if (to < 0 || to >= stages() || from < 0 || from >= stages())
      throw Error("NcclTransport: no stage " + std::to_string(to) + " to send the " + runtime::describe(key) + " to");
    const Stream here = current_stream();
    if (devices_[static_cast<size_t>(from)] == devices_[static_cast<size_t>(to)]) {
      // Same GPU: hand the tensor itself over, with an event the receiver's stream waits on.
      cudaEvent_t ready = nullptr;
      TSPIPE_CUDA_CHECK(cudaEventCreateWithFlags(&ready, cudaEventDisableTiming));
      TSPIPE_CUDA_CHECK(cudaEventRecord(ready, here.handle));
      impl_->inbox.put(to, key, nccl::Arrived{std::move(value), ready});
      return;
    }
    nccl::LinkEnd& end = impl_->link(from, to).sending;
    std::lock_guard lock(end.mutex);
    nccl::send_message(end, key, value, here, kNoDeadline);
  });
}

Result<Tensor> NcclTransport::receive(int at, const runtime::MessageKey& key, std::chrono::milliseconds timeout) {
  if (impl_->inbox.stopped()) return Result<Tensor>::failure(impl_->inbox.stop_reason());
  return try_call([&]() -> Tensor {
    const int from = nccl::source_stage(at, key);
    if (at < 0 || at >= stages() || from < 0 || from >= stages())
      throw Error("NcclTransport: stage " + std::to_string(at) + " has no sender for the " + runtime::describe(key));
    const Stream here = current_stream();
    const auto waited_too_long = [&] {
      return Error("stage " + std::to_string(at) + " waited " + std::to_string(timeout.count()) + " ms for the " +
                   runtime::describe(key));
    };
    if (devices_[static_cast<size_t>(from)] == devices_[static_cast<size_t>(at)]) {
      auto arrived = impl_->inbox.wait_take(at, key, timeout);
      if (!arrived) throw waited_too_long();
      return nccl::Inbox::claim(std::move(*arrived), here);
    }
    // Pull messages from the peer in the order it sent them until ours arrives.
    nccl::LinkEnd& end = impl_->link(from, at).receiving;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::lock_guard lock(end.mutex);
    for (;;) {
      if (auto arrived = impl_->inbox.try_take(at, key)) return nccl::Inbox::claim(std::move(*arrived), here);
      auto next = nccl::receive_next(end, here, deadline, impl_->inbox.stopped_flag());
      if (!next) {
        if (impl_->inbox.stopped()) throw Error(impl_->inbox.stop_reason());
        throw waited_too_long();
      }
      impl_->inbox.put(at, next->first, std::move(next->second));
    }
  });
}

void NcclTransport::stop(const std::string& reason) {
  impl_->inbox.stop(reason);
  // A stream waiting inside NCCL on a peer that will never send is released by aborting the
  // communicators. Receivers polling a header see the stop flag and let go of their end first.
  for (auto& [key, link] : impl_->links)
    for (nccl::LinkEnd* end : {&link->sending, &link->receiving}) {
      std::lock_guard lock(end->mutex);
      if (end->comm) (void)ncclCommAbort(end->comm);
      end->comm = nullptr;
    }
}

std::size_t NcclTransport::pending() { return impl_->inbox.pending(); }

}  // namespace tspipe::cuda
